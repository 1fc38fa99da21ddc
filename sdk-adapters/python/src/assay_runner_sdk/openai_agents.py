"""openai-agents (0.24): each MCP tool call carries the model's call id to the MCP server as
``params._meta["assay.dev/tool_call_id"]``, and the run is recorded in ``$ASSAY_SDK_LOG``::

    assay = assay_openai_agents()
    result = await Runner.run(agent, prompt, hooks=assay.hooks())

``hooks()`` records the run (``run_started`` at the first agent start, ``tool_call_started`` /
``tool_call_finished`` from ``on_tool_start`` / ``on_tool_end``, ``run_finished`` at
``on_agent_end``) and instruments the MCP servers of every agent it sees start: the server's
``tool_meta_resolver`` returns the id of the call it resolves for (the resolver's
``run_context`` is the call's ``ToolContext``, whose ``tool_call_id`` is the model's call id),
merged over the application's own resolver; and its ``call_tool`` is wrapped to see whether the
result had ``isError`` (a policy denial), which the SDK gives the model only as content.

With ``$ASSAY_SDK_LOG`` unset, ``hooks(inner)`` returns ``inner`` and every other method returns
what it was given: nothing changes.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Optional

from ._log import (
    TOOL_CALL_ID_META_KEY,
    SdkLog,
    SdkLogError,
    call_id_or_none,
    installed_package,
    with_tool_call_id,
)

SDK_DISTRIBUTION = "openai-agents"
"""The distribution whose name and version the records carry."""

_INSTRUMENTED = "_assay_runner_sdk_instrumented"

__all__ = ["OpenAIAgentsAdapter", "assay_openai_agents", "SDK_DISTRIBUTION", "TOOL_CALL_ID_META_KEY"]


class _CallState:
    __slots__ = ("mcp", "is_error")

    def __init__(self) -> None:
        self.mcp = False
        self.is_error: Optional[bool] = None

    def outcome(self) -> str:
        # A local (non-MCP) tool whose error the SDK turned into a message reads as ok: the
        # adapter cannot see it.
        if self.mcp:
            return "ok" if self.is_error is False else "error"
        return "ok"


class OpenAIAgentsAdapter:
    def __init__(self, log: SdkLog) -> None:
        self._log = log
        self._calls: dict[str, _CallState] = {}
        self._started = False

    @property
    def enabled(self) -> bool:
        return self._log.enabled

    @property
    def log(self) -> SdkLog:
        return self._log

    def tool_meta_resolver(self, inner: Any = None) -> Any:
        """A ``tool_meta_resolver``: the call's id under TOOL_CALL_ID_META_KEY, merged over what
        ``inner`` (the application's resolver) returns. Disabled: ``inner``."""
        if not self.enabled or getattr(inner, _INSTRUMENTED, False):
            return inner

        async def resolver(context: Any) -> dict[str, Any]:
            call_id = call_id_or_none(getattr(context.run_context, "tool_call_id", None))
            if call_id is None:
                raise SdkLogError(
                    f"assay-runner-sdk: MCP call to {context.tool_name} without a tool call id in its run context"
                )
            base = None
            if inner is not None:
                base = inner(context)
                if hasattr(base, "__await__"):
                    base = await base
            if base is not None and not isinstance(base, Mapping):
                raise TypeError("MCP meta resolver must return a dict or None.")
            return with_tool_call_id(base, call_id)

        setattr(resolver, _INSTRUMENTED, True)
        return resolver

    def instrument_server(self, server: Any) -> Any:
        """Sets the server's resolver (composed with its own) and watches its results' isError."""
        if not self.enabled or getattr(server, _INSTRUMENTED, False):
            return server
        server.tool_meta_resolver = self.tool_meta_resolver(getattr(server, "tool_meta_resolver", None))
        original = server.call_tool
        calls = self._calls

        @functools.wraps(original)
        async def call_tool(tool_name: str, arguments: Any, meta: Optional[dict[str, Any]] = None) -> Any:
            state = calls.get(call_id_or_none((meta or {}).get(TOOL_CALL_ID_META_KEY)))  # type: ignore[arg-type]
            if state is not None:
                state.mcp = True
            try:
                result = await (original(tool_name, arguments) if meta is None else original(tool_name, arguments, meta=meta))
            except BaseException:
                if state is not None:
                    state.is_error = True
                raise
            if state is not None:
                state.is_error = getattr(result, "isError", None) is True or getattr(result, "is_error", None) is True
            return result

        server.call_tool = call_tool
        setattr(server, _INSTRUMENTED, True)
        return server

    def instrument_agent(self, agent: Any) -> Any:
        """Instruments the agent's MCP servers."""
        if self.enabled:
            for server in getattr(agent, "mcp_servers", None) or []:
                self.instrument_server(server)
        return agent

    def hooks(self, inner: Any = None) -> Any:
        """RunHooks recording the run and instrumenting each agent's MCP servers, delegating to
        ``inner`` (the application's hooks, if any). Disabled: ``inner``."""
        if not self.enabled:
            return inner
        from agents import RunHooks

        adapter = self

        class AssayRunHooks(RunHooks):  # type: ignore[misc, valid-type]
            async def on_agent_start(self, context: Any, agent: Any) -> None:
                adapter.instrument_agent(agent)
                if not adapter._started:
                    adapter._started = True
                    adapter._log.run_started()
                if inner is not None:
                    await inner.on_agent_start(context, agent)

            async def on_tool_start(self, context: Any, agent: Any, tool: Any) -> None:
                call_id = call_id_or_none(getattr(context, "tool_call_id", None))
                if call_id is not None:
                    adapter._calls[call_id] = _CallState()
                adapter._log.tool_call_started(call_id, getattr(tool, "name", str(tool)))
                if inner is not None:
                    await inner.on_tool_start(context, agent, tool)

            async def on_tool_end(self, context: Any, agent: Any, tool: Any, result: Any) -> None:
                call_id = call_id_or_none(getattr(context, "tool_call_id", None))
                state = adapter._calls.pop(call_id, None) if call_id is not None else None
                outcome = state.outcome() if state is not None else "ok"
                adapter._log.tool_call_finished(call_id, getattr(tool, "name", str(tool)), outcome)  # type: ignore[arg-type]
                if inner is not None:
                    await inner.on_tool_end(context, agent, tool, result)

            async def on_agent_end(self, context: Any, agent: Any, output: Any) -> None:
                adapter._log.run_finished()
                if inner is not None:
                    await inner.on_agent_end(context, agent, output)

            async def on_llm_start(self, *args: Any, **kwargs: Any) -> None:
                if inner is not None:
                    await inner.on_llm_start(*args, **kwargs)

            async def on_llm_end(self, *args: Any, **kwargs: Any) -> None:
                if inner is not None:
                    await inner.on_llm_end(*args, **kwargs)

            async def on_handoff(self, *args: Any, **kwargs: Any) -> None:
                if inner is not None:
                    await inner.on_handoff(*args, **kwargs)

        return AssayRunHooks()


def assay_openai_agents(env: Optional[Mapping[str, str]] = None, log: Optional[SdkLog] = None) -> OpenAIAgentsAdapter:
    """The adapter for openai-agents. Records go to ``$ASSAY_SDK_LOG`` (``env``, default
    ``os.environ``); unset: disabled, nothing changes. ``log`` replaces the SdkLog (tests)."""
    if log is None:
        log = SdkLog.from_env(sdk=lambda: installed_package(SDK_DISTRIBUTION), env=env)
    return OpenAIAgentsAdapter(log)
