import os
import re
import time

import pytest

from assay_runner_sdk import SCHEMA, TOOL_CALL_ID_META_KEY, SdkLog, SdkLogError, installed_package, with_tool_call_id
from helpers import SCHEMA as JSON_SCHEMA
from helpers import read_records, story_problems

SDK = {"name": "openai-agents", "version": "0.24.0"}


def test_schema_id_is_the_repositorys():
    assert JSON_SCHEMA["$id"] == f"urn:{SCHEMA}"
    assert JSON_SCHEMA["properties"]["schema"]["const"] == SCHEMA


def test_full_run_records_are_valid_and_coherent(tmp_path):
    path = tmp_path / "sdk.ndjson"
    log = SdkLog.from_env(sdk=SDK, env={"ASSAY_SDK_LOG": str(path), "ASSAY_RUN_ID": "run-7"})
    assert log.enabled
    log.run_started()
    log.tool_call_started("c1", "read_text_file")
    log.tool_call_started("c2", "write_text_file")
    log.tool_call_finished("c2", "write_text_file", "error")
    log.tool_call_finished("c1", "read_text_file", "ok")
    log.run_finished()
    log.close()
    records = read_records(path)
    assert story_problems(records) == []
    assert [(r["seq"], r["event_type"], r.get("tool_call_id"), r.get("tool"), r.get("outcome")) for r in records] == [
        (0, "run_started", None, None, None),
        (1, "tool_call_started", "c1", "read_text_file", None),
        (2, "tool_call_started", "c2", "write_text_file", None),
        (3, "tool_call_finished", "c2", "write_text_file", "error"),
        (4, "tool_call_finished", "c1", "read_text_file", "ok"),
        (5, "run_finished", None, None, None),
    ]
    for r in records:
        assert r["run_id"] == "run-7"
        assert r["sdk"] == SDK
        assert r["diag"]["pid"] == os.getpid()
        assert list(r)[:4] == ["schema", "run_id", "seq", "event_type"]
    ns = [r["diag"]["monotonic_ns"] for r in records]
    assert ns == sorted(ns)


def test_monotonic_ns_is_clock_monotonic(tmp_path):
    path = tmp_path / "sdk.ndjson"
    log = SdkLog.from_env(sdk=SDK, env={"ASSAY_SDK_LOG": str(path)})
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    log.run_started()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    ns = int(re.search(r'"monotonic_ns":(\d+)\}', path.read_text()).group(1))
    assert before <= ns <= after
    assert read_records(path)[0]["run_id"] == "standalone"


def test_appends_to_an_existing_log(tmp_path):
    path = tmp_path / "sdk.ndjson"
    path.write_text("")
    log = SdkLog.from_env(sdk=SDK, env={"ASSAY_SDK_LOG": str(path)})
    log.run_started()
    log.run_finished()
    assert len(read_records(path)) == 2


@pytest.mark.parametrize("env", [{}, {"ASSAY_SDK_LOG": ""}])
def test_unset_is_disabled_and_never_asks_the_version(env):
    def no_version():
        raise AssertionError("must not be asked")

    log = SdkLog.from_env(sdk=no_version, env=env)
    assert not log.enabled and log.path is None
    log.run_started()
    log.tool_call_started("x", "t")
    log.tool_call_finished("y", "t", "bogus")  # type: ignore[arg-type]
    log.run_finished()
    log.run_started()
    log.close()


def test_unwritable_log_fails_loudly_naming_the_path(tmp_path):
    missing = tmp_path / "no-such-dir" / "sdk.ndjson"
    with pytest.raises(SdkLogError) as e:
        SdkLog.from_env(sdk=SDK, env={"ASSAY_SDK_LOG": str(missing)})
    assert "cannot open $ASSAY_SDK_LOG" in str(e.value) and str(missing) in str(e.value)
    assert isinstance(e.value.__cause__, FileNotFoundError)
    a_dir = tmp_path / "a-directory"
    a_dir.mkdir()
    with pytest.raises(SdkLogError, match=re.escape(str(a_dir))):
        SdkLog.from_env(sdk=SDK, env={"ASSAY_SDK_LOG": str(a_dir)})
    assert not missing.exists()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_failing_write_raises_naming_the_path_and_stays_broken():
    log = SdkLog.from_env(sdk=SDK, env={"ASSAY_SDK_LOG": "/dev/full"})
    with pytest.raises(SdkLogError, match=r"cannot append to \$ASSAY_SDK_LOG \(/dev/full\)") as e:
        log.run_started()
    assert isinstance(e.value.__cause__, OSError)
    with pytest.raises(SdkLogError, match="broken by an earlier write error|run_started after"):
        log.run_started()


def test_unknown_version_is_an_error_when_enabled(tmp_path):
    with pytest.raises(SdkLogError, match="name and version are unknown"):
        SdkLog.from_env(sdk={"name": "x"}, env={"ASSAY_SDK_LOG": str(tmp_path / "l")})


def test_misuse_raises_instead_of_writing(tmp_path):
    path = tmp_path / "sdk.ndjson"
    log = SdkLog.from_env(sdk=SDK, env={"ASSAY_SDK_LOG": str(path)})
    with pytest.raises(SdkLogError, match="before run_started"):
        log.tool_call_started("c", "t")
    log.run_started()
    with pytest.raises(SdkLogError, match="one run per"):
        log.run_started()
    with pytest.raises(SdkLogError, match="without having started"):
        log.tool_call_finished("c", "t", "ok")
    log.tool_call_started("c", "t")
    with pytest.raises(SdkLogError, match="in flight"):
        log.tool_call_started("c", "t")
    with pytest.raises(SdkLogError, match="outcome"):
        log.tool_call_finished("c", "t", "maybe")  # type: ignore[arg-type]
    with pytest.raises(SdkLogError, match="still in flight: c"):
        log.run_finished()
    log.tool_call_finished("c", "t", "ok")
    log.tool_call_started("c", "t")
    log.tool_call_finished("c", "t", "ok")
    log.run_finished()
    with pytest.raises(SdkLogError, match="after the log was finished"):
        log.tool_call_started("d", "t")
    log.close()
    assert story_problems(read_records(path)) == []


def test_call_without_id_is_recorded_without_one(tmp_path):
    path = tmp_path / "sdk.ndjson"
    log = SdkLog.from_env(sdk=SDK, env={"ASSAY_SDK_LOG": str(path)})
    log.run_started()
    log.tool_call_started(None, "t")
    log.tool_call_finished("", "t", "ok")
    log.run_finished()
    records = read_records(path)
    assert "tool_call_id" not in records[1] and "tool_call_id" not in records[2]
    assert story_problems(records) == ["seq 1: tool_call_id/tool", "seq 2: tool_call_id/tool"]


def test_with_tool_call_id_copies():
    meta = {"other": 1}
    assert with_tool_call_id(meta, "id-1") == {"other": 1, TOOL_CALL_ID_META_KEY: "id-1"}
    assert meta == {"other": 1}
    assert with_tool_call_id(None, "id-2") == {"assay.dev/tool_call_id": "id-2"}


def test_installed_package_reads_distribution_metadata():
    assert installed_package("openai-agents")["name"] == "openai-agents"
    with pytest.raises(SdkLogError, match="not installed"):
        installed_package("assay-no-such-runtime")
