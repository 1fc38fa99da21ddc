"""google-genai 3.3 with the adapter: the SDK's manual function-calling loop over MCP tools,
against a scripted fake Gemini API, with a stdio MCP server that logs what it receives."""

import json

import pytest

from helpers import clean_env, mcp_messages, read_records, run_agent, story_problems


def run(tmp_path, args, log=True):
    env = clean_env(TEST_MCP_LOG=str(tmp_path / "mcp.ndjson"))
    if log:
        env["ASSAY_SDK_LOG"] = str(tmp_path / "sdk.ndjson")
    out = run_agent("genai_agent.py", args, env)
    assert out.returncode == 0, out.stderr
    return out, json.loads(out.stdout), mcp_messages(tmp_path / "mcp.ndjson")


def tool_calls(mcp):
    return [m for m in mcp if m.get("method") == "tools/call"]


@pytest.mark.parametrize("parallel", [False, True])
def test_records_meta_ids_and_function_response_ids(tmp_path, parallel):
    _, transcript, mcp = run(tmp_path, ["--adapter"] + (["--parallel"] if parallel else []))
    records = read_records(tmp_path / "sdk.ndjson")
    assert story_problems(records) == []
    assert all(r["sdk"] == {"name": "google-genai", "version": "3.3.0"} for r in records)
    assert [(r["event_type"], r.get("tool_call_id"), r.get("outcome")) for r in records] == [
        ("run_started", None, None),
        ("tool_call_started", "gm-echo-1", None),
        ("tool_call_finished", "gm-echo-1", "ok"),
        ("tool_call_started", "gm-refuse-2", None),
        ("tool_call_finished", "gm-refuse-2", "error"),
        ("tool_call_started", "gm-echo-3", None),
        ("tool_call_finished", "gm-echo-3", "ok"),
        ("run_finished", None, None),
    ]
    assert [(m["params"]["_meta"]["assay.dev/tool_call_id"], m["params"]["name"]) for m in tool_calls(mcp)] == [
        ("gm-echo-1", "echo"),
        ("gm-refuse-2", "refuse"),
        ("gm-echo-3", "echo"),
    ]
    assert transcript["text"] == "gm-echo-1:echo;gm-refuse-2:refuse;gm-echo-3:echo"


def test_calls_without_ids_are_never_guessed(tmp_path):
    _, transcript, mcp = run(tmp_path, ["--adapter", "--no-ids"])
    records = read_records(tmp_path / "sdk.ndjson")
    calls = [r for r in records if r["event_type"].startswith("tool_call")]
    assert len(calls) == 6 and all("tool_call_id" not in r for r in calls)
    assert all("_meta" not in m["params"] for m in tool_calls(mcp))
    assert transcript["text"] == "-:echo;-:refuse;-:echo"
    assert story_problems(records)  # the runner will call this layer partial


@pytest.mark.parametrize("extra", [[], ["--parallel"]])
def test_without_sdk_log_the_adapter_changes_nothing(tmp_path, extra):
    (tmp_path / "plain").mkdir()
    (tmp_path / "adapted").mkdir()
    plain = run(tmp_path / "plain", extra, log=False)
    adapted = run(tmp_path / "adapted", ["--adapter", *extra], log=False)
    assert adapted[1] == plain[1]
    assert adapted[2] == plain[2]
    assert len(tool_calls(plain[2])) == 3
    assert plain[1]["text"] == "-:echo;-:refuse;-:echo"
    assert not (tmp_path / "adapted" / "sdk.ndjson").exists()


def test_unwritable_log_stops_the_agent_before_it_starts(tmp_path):
    path = tmp_path / "missing" / "sdk.ndjson"
    env = clean_env(TEST_MCP_LOG=str(tmp_path / "mcp.ndjson"), ASSAY_SDK_LOG=str(path))
    out = run_agent("genai_agent.py", ["--adapter"], env)
    assert out.returncode != 0
    assert f"cannot open $ASSAY_SDK_LOG ({path})" in out.stderr
    assert tool_calls(mcp_messages(tmp_path / "mcp.ndjson")) == []
