"""Test helpers: the sdk_event JSON Schema of the repository (schemas/), the coherence rules the
runner applies to an SDK log (src/correlation/sdk.rs), and running the support agents."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from jsonschema import Draft202012Validator

HERE = Path(__file__).resolve().parent
SUPPORT = HERE / "support"
SRC = HERE.parent / "src"
SCHEMA_FILE = HERE.parents[2] / "schemas" / "sdk_event.v0.schema.json"
SCHEMA = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
Draft202012Validator.check_schema(SCHEMA)
_VALIDATOR = Draft202012Validator(SCHEMA)


def assert_valid_record(record: dict) -> None:
    errors = sorted(_VALIDATOR.iter_errors(record), key=lambda e: list(e.path))
    assert not errors, f"invalid sdk_event {record}: {[e.message for e in errors]}"
    # The schema's integer formats (schemars): uint32 / uint64.
    diag = record.get("diag")
    if diag:
        assert 0 <= diag["pid"] <= 0xFFFFFFFF and 0 <= diag["monotonic_ns"] < 2**64


def read_records(path: Path) -> list[dict]:
    text = Path(path).read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n"), f"{path} does not end with a newline"
    records = [json.loads(line) for line in text.splitlines() if line]
    for r in records:
        assert_valid_record(r)
    return records


def story_problems(records: list[dict]) -> list[str]:
    problems = []
    for i, r in enumerate(records):
        if r["seq"] != i:
            problems.append(f"record {i} has seq {r['seq']}")
    if not records:
        return ["no records"]
    if records[0]["event_type"] != "run_started":
        problems.append("first is not run_started")
    if records[-1]["event_type"] != "run_finished":
        problems.append("last is not run_finished")
    if any(r["sdk"] != records[0]["sdk"] for r in records):
        problems.append("several SDKs")
    if any(r["run_id"] != records[0]["run_id"] for r in records):
        problems.append("several run ids")
    open_calls: dict[str, int] = {}
    for r in records:
        is_call = r["event_type"] in ("tool_call_started", "tool_call_finished")
        if is_call != (r.get("tool_call_id") is not None and r.get("tool") is not None):
            problems.append(f"seq {r['seq']}: tool_call_id/tool")
        if (r["event_type"] == "tool_call_finished") != (r.get("outcome") is not None):
            problems.append(f"seq {r['seq']}: outcome")
        cid = r.get("tool_call_id")
        if r["event_type"] == "tool_call_started":
            open_calls[cid] = open_calls.get(cid, 0) + 1
        if r["event_type"] == "tool_call_finished":
            if not open_calls.get(cid):
                problems.append(f"seq {r['seq']}: {cid} finished without starting")
            else:
                open_calls[cid] -= 1
    problems += [f"{cid} never finished" for cid, n in open_calls.items() if n > 0]
    return problems


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    env.update(extra)
    return env


def run_agent(name: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SUPPORT / name), *args], env=env, capture_output=True, text=True, timeout=120
    )


def mcp_messages(path: Path) -> list[dict]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line]
