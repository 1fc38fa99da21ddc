"""google-genai (3.3): MCP tool calls that keep the model's ``function_call.id``, in the SDK's
manual function-calling loop::

    assay = assay_genai()
    config = types.GenerateContentConfig(tools=(await session.list_tools()).tools)  # MCP tools
    async with assay.run():
        while True:
            response = await client.aio.models.generate_content(model=M, contents=contents, config=config)
            if not response.function_calls:
                break
            contents.append(response.candidates[0].content)
            parts = [await assay.call_tool(session, call) for call in response.function_calls]
            contents.append(types.Content(role="user", parts=parts))

The SDK's automatic function calling over an MCP session drops the function call's id (the MCP
request carries none, the ``function_response`` has none), and with mcp 2.x it cannot run at
all: it deep-copies the config, session included, which fails (``cannot pickle
'_asyncio.Task'``). So the loop is the application's, as in the SDK's manual function-calling
docs, and ``call_tool`` executes one call the way the SDK's automatic calling does
(``session.call_tool(name, arguments)``, the answer
``{"result": CallToolResult}`` or ``{"error": ...}``; an exception is answered, not raised),
except that the MCP request carries the id in ``params._meta["assay.dev/tool_call_id"]`` and the
``function_response`` carries it back. Each call is recorded (``tool_call_started``, then
``tool_call_finished`` with ``error`` for an ``isError`` result or a failed call); ``run()``
brackets the run.

A function call without an id is recorded without one and reaches MCP without one: the runner
then reports the SDK layer as partial instead of guessing which call was which.

With ``$ASSAY_SDK_LOG`` unset, ``call_tool`` is exactly that call and answer without the id, and
``run()`` does nothing: nothing changes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any, Optional

from ._log import TOOL_CALL_ID_META_KEY, SdkLog, call_id_or_none, installed_package

SDK_DISTRIBUTION = "google-genai"
"""The distribution whose name and version the records carry."""

__all__ = ["GenAIAdapter", "assay_genai", "SDK_DISTRIBUTION", "TOOL_CALL_ID_META_KEY"]


class GenAIAdapter:
    def __init__(self, log: SdkLog) -> None:
        self._log = log

    @property
    def enabled(self) -> bool:
        return self._log.enabled

    @property
    def log(self) -> SdkLog:
        return self._log

    def run_started(self) -> None:
        self._log.run_started()

    def run_finished(self) -> None:
        self._log.run_finished()

    @contextlib.asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        """``run_started`` on entry, ``run_finished`` on a normal exit (not when the body raises:
        the run did not finish)."""
        self._log.run_started()
        yield
        self._log.run_finished()

    async def call_tool(self, session: Any, function_call: Any) -> Any:
        """Executes one function call on an MCP session as the SDK does, with its id: returns the
        ``function_response`` Part (id set). Recorded. Disabled: exactly the SDK's call and
        answer (no id)."""
        from google.genai import types

        name = function_call.name or ""
        call_id = call_id_or_none(getattr(function_call, "id", None))
        args = dict(function_call.args) if function_call.args else {}
        self._log.tool_call_started(call_id, name)
        outcome = "error"
        try:
            if self.enabled and call_id is not None:
                result = await session.call_tool(name=name, arguments=args, meta={TOOL_CALL_ID_META_KEY: call_id})
            else:
                result = await session.call_tool(name=name, arguments=args)
            is_error = getattr(result, "is_error", getattr(result, "isError", False))
            response = {"error": result} if is_error else {"result": result}
            outcome = "error" if is_error else "ok"
        except Exception as e:  # as the SDK: the model is told, the loop goes on
            response = {"error": str(e)}
        self._log.tool_call_finished(call_id, name, outcome)  # type: ignore[arg-type]
        part = types.Part.from_function_response(name=name, response=response)
        if self.enabled and call_id is not None and part.function_response is not None:
            part.function_response.id = call_id
        return part


def assay_genai(env: Optional[Mapping[str, str]] = None, log: Optional[SdkLog] = None) -> GenAIAdapter:
    """The adapter for google-genai. Records go to ``$ASSAY_SDK_LOG`` (``env``, default
    ``os.environ``); unset: disabled, nothing changes. ``log`` replaces the SdkLog (tests)."""
    if log is None:
        log = SdkLog.from_env(sdk=lambda: installed_package(SDK_DISTRIBUTION), env=env)
    return GenAIAdapter(log)
