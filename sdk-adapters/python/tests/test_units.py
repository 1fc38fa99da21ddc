"""The adapters' pieces on their own, on the runtimes' real objects (no stand-ins): resolver
composition through the SDK's own MCP tool invocation, disabled pass-through, and one genai call
on a real MCP session. MCP calls go to the stdio test server (support/mcp_server.py), which logs
what it receives."""

import asyncio
import json
import sys

import pytest
from agents import RunContextWrapper, RunHooks
from agents.exceptions import AgentsException
from agents.mcp import MCPServerStdio, MCPUtil
from agents.tool_context import ToolContext
from google.genai import types
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from assay_runner_sdk import SdkLog, SdkLogError
from assay_runner_sdk.genai import assay_genai
from assay_runner_sdk.openai_agents import assay_openai_agents
from helpers import SUPPORT, clean_env, mcp_messages, read_records, story_problems

KEY = "assay.dev/tool_call_id"
MCP_SERVER = str(SUPPORT / "mcp_server.py")


def enabled_log(tmp_path, name):
    return SdkLog.from_env(sdk={"name": name, "version": "9.9.9"}, env={"ASSAY_SDK_LOG": str(tmp_path / "sdk.ndjson")})


def tool_calls(path):
    return [m for m in mcp_messages(path) if m.get("method") == "tools/call"]


def stdio_server(tmp_path, **kwargs):
    """The SDK's MCPServerStdio over the test server, logging to tmp_path/mcp.ndjson."""
    env = clean_env(TEST_MCP_LOG=str(tmp_path / "mcp.ndjson"))
    return MCPServerStdio(name="s", params={"command": sys.executable, "args": [MCP_SERVER], "env": env}, **kwargs)


def tool_context(call_id, name, arguments):
    """The run context the SDK gives a function tool for one model call."""
    return ToolContext(context=None, tool_name=name, tool_call_id=call_id, tool_arguments=arguments)


def test_openai_disabled_returns_the_sdks_objects_untouched(tmp_path):
    assay = assay_openai_agents(env={})
    assert not assay.enabled
    inner = RunHooks()
    assert assay.hooks(inner) is inner
    assert assay.hooks() is None

    def resolver(ctx):
        return {"mine": 1}

    assert assay.tool_meta_resolver(resolver) is resolver
    server = stdio_server(tmp_path, tool_meta_resolver=resolver)
    before = dict(vars(server))
    assert assay.instrument_server(server) is server
    assert vars(server) == before
    assert server.tool_meta_resolver is resolver
    assert "call_tool" not in vars(server)  # the class's own method, not a wrapper


def test_openai_the_sdks_mcp_tools_send_the_call_id_merged_over_the_servers_own_meta(tmp_path):
    assay = assay_openai_agents(log=enabled_log(tmp_path, "openai-agents"))

    async def own(ctx):
        return {"mine": ctx.tool_name}

    async def body():
        async with stdio_server(tmp_path, tool_meta_resolver=own, cache_tools_list=True) as server:
            assert assay.instrument_server(server) is server
            assert assay.instrument_server(server) is server  # idempotent
            assert assay.tool_meta_resolver(server.tool_meta_resolver) is server.tool_meta_resolver
            tools = {t.name: t for t in await server.list_tools()}
            echo = MCPUtil.to_function_tool(tools["echo"], server, False)  # the SDK's FunctionTool

            def call(call_id, text):
                arguments = json.dumps({"text": text})
                return echo.on_invoke_tool(tool_context(call_id, "echo", arguments), arguments)

            results = await asyncio.gather(call("id-a", "a"), call("id-b", "b"))
            assert "echo: a" in str(results[0]) and "echo: b" in str(results[1])
            assert sorted((m["params"]["arguments"]["text"], m["params"]["_meta"]) for m in tool_calls(tmp_path / "mcp.ndjson")) == [
                ("a", {"mine": "echo", KEY: "id-a"}),
                ("b", {"mine": "echo", KEY: "id-b"}),
            ]
            # A run context without a tool call id (not a model's call): refused, nothing sent.
            with pytest.raises(AgentsException) as raised:
                await MCPUtil.invoke_mcp_tool(server, tools["echo"], RunContextWrapper(context=None), '{"text": "c"}')
            assert isinstance(raised.value.__cause__, SdkLogError)
            assert "without a tool call id" in str(raised.value.__cause__)
            assert len(tool_calls(tmp_path / "mcp.ndjson")) == 2

    asyncio.run(body())


@pytest.mark.parametrize("enabled", [False, True])
def test_genai_call_tool_on_a_real_session(tmp_path, enabled):
    assay = assay_genai(log=enabled_log(tmp_path, "google-genai")) if enabled else assay_genai(env={})
    assert assay.enabled is enabled
    params = StdioServerParameters(
        command=sys.executable, args=[MCP_SERVER], env=clean_env(TEST_MCP_LOG=str(tmp_path / "mcp.ndjson"))
    )

    async def body():
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                async with assay.run():
                    ok = await assay.call_tool(session, types.FunctionCall(id="gm-1", name="echo", args={"text": "a"}))
                    refused = await assay.call_tool(
                        session, types.FunctionCall(id="gm-2", name="refuse", args={"text": "b"})
                    )
                return ok, refused

    ok, refused = asyncio.run(body())
    # The SDK's answer shape: {"result": CallToolResult}, or {"error": ...} for an isError result.
    assert ok.function_response.name == "echo" and set(ok.function_response.response) == {"result"}
    assert ok.function_response.response["result"].content[0].text == "echo: a"
    assert refused.function_response.name == "refuse" and set(refused.function_response.response) == {"error"}
    sent = [(m["params"]["name"], m["params"].get("_meta")) for m in tool_calls(tmp_path / "mcp.ndjson")]
    if enabled:
        assert (ok.function_response.id, refused.function_response.id) == ("gm-1", "gm-2")
        assert sent == [("echo", {KEY: "gm-1"}), ("refuse", {KEY: "gm-2"})]
        records = read_records(tmp_path / "sdk.ndjson")
        assert story_problems(records) == []
        assert [(r["event_type"], r.get("tool_call_id"), r.get("outcome")) for r in records] == [
            ("run_started", None, None),
            ("tool_call_started", "gm-1", None),
            ("tool_call_finished", "gm-1", "ok"),
            ("tool_call_started", "gm-2", None),
            ("tool_call_finished", "gm-2", "error"),
            ("run_finished", None, None),
        ]
    else:
        # Disabled: exactly the SDK's call and answer, no id either way, nothing written.
        assert (ok.function_response.id, refused.function_response.id) == (None, None)
        assert sent == [("echo", None), ("refuse", None)]
        assert not (tmp_path / "sdk.ndjson").exists()
