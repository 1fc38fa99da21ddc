"""openai-agents 0.24 with the adapter: a docs-style agent (Agent with mcp_servers, Runner.run)
with a scripted Model, against a stdio MCP server that logs what it receives."""

import json

import pytest

from helpers import clean_env, mcp_messages, read_records, run_agent, story_problems


def run(tmp_path, args, log=True):
    env = clean_env(TEST_MCP_LOG=str(tmp_path / "mcp.ndjson"))
    if log:
        env["ASSAY_SDK_LOG"] = str(tmp_path / "sdk.ndjson")
    out = run_agent("openai_agent.py", args, env)
    assert out.returncode == 0, out.stderr
    return out, json.loads(out.stdout), mcp_messages(tmp_path / "mcp.ndjson")


def tool_calls(mcp):
    return [m for m in mcp if m.get("method") == "tools/call"]


@pytest.mark.parametrize("parallel", [False, True])
def test_records_and_meta_ids(tmp_path, parallel):
    _, _, mcp = run(tmp_path, ["--adapter"] + (["--parallel"] if parallel else []))
    records = read_records(tmp_path / "sdk.ndjson")
    assert story_problems(records) == []
    assert all(r["sdk"] == {"name": "openai-agents", "version": "0.24.0"} for r in records)
    started = [(r["tool_call_id"], r["tool"]) for r in records if r["event_type"] == "tool_call_started"]
    assert sorted(started) == [("call-echo-1", "echo"), ("call-echo-3", "echo"), ("call-refuse-2", "refuse")]
    finished = {r["tool_call_id"]: r["outcome"] for r in records if r["event_type"] == "tool_call_finished"}
    assert finished == {"call-echo-1": "ok", "call-refuse-2": "error", "call-echo-3": "ok"}
    sent = sorted(
        (m["params"]["_meta"]["assay.dev/tool_call_id"], m["params"]["name"], m["params"]["arguments"]["text"])
        for m in tool_calls(mcp)
    )
    assert sent == [("call-echo-1", "echo", "a"), ("call-echo-3", "echo", "c"), ("call-refuse-2", "refuse", "b")]
    if parallel:
        assert [r["event_type"] for r in records[1:4]] == ["tool_call_started"] * 3
    else:
        assert [r["tool_call_id"] for r in records if r["event_type"] == "tool_call_started"] == [
            "call-echo-1",
            "call-refuse-2",
            "call-echo-3",
        ]


@pytest.mark.parametrize("extra", [[], ["--parallel"]])
def test_without_sdk_log_the_adapter_changes_nothing(tmp_path, extra):
    (tmp_path / "plain").mkdir()
    (tmp_path / "adapted").mkdir()
    plain = run(tmp_path / "plain", extra, log=False)
    adapted = run(tmp_path / "adapted", ["--adapter", *extra], log=False)
    assert adapted[1] == plain[1]  # what the model was sent, and the final output
    assert adapted[2] == plain[2]  # what the MCP server received
    assert len(tool_calls(plain[2])) == 3
    assert all("_meta" not in m["params"] for m in tool_calls(adapted[2]))
    assert not (tmp_path / "adapted" / "sdk.ndjson").exists()


def test_unwritable_log_stops_the_agent_before_it_starts(tmp_path):
    path = tmp_path / "missing" / "sdk.ndjson"
    env = clean_env(TEST_MCP_LOG=str(tmp_path / "mcp.ndjson"), ASSAY_SDK_LOG=str(path))
    out = run_agent("openai_agent.py", ["--adapter"], env)
    assert out.returncode != 0
    assert f"cannot open $ASSAY_SDK_LOG ({path})" in out.stderr
    assert mcp_messages(tmp_path / "mcp.ndjson") == []
