"""The SDK layer's writer: ``assay.runner.sdk_event.v0`` records, one JSON line each, appended
to the file ``$ASSAY_SDK_LOG`` names (docs/contracts/sdk_event.md in assay-runner).

Each line is written whole on a descriptor opened for appending and fsync(2)ed before the agent
goes on, so a line is either complete and durable or absent. When ``$ASSAY_SDK_LOG`` is unset or
empty the log is disabled: nothing is opened, nothing is written, every method does nothing.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any, Literal, Optional, Union

SCHEMA = "assay.runner.sdk_event.v0"
"""The record schema this package writes. Its version is the package's major version."""

TOOL_CALL_ID_META_KEY = "assay.dev/tool_call_id"
"""The ``_meta`` key that carries a tool call's id to the MCP server (and to ``mcp-wrap``)."""

Outcome = Literal["ok", "error"]
SdkInfo = Mapping[str, str]


class SdkLogError(RuntimeError):
    """The log cannot be written, or a record would make its story incoherent."""


def with_tool_call_id(meta: Optional[Mapping[str, Any]], tool_call_id: str) -> dict[str, Any]:
    """``_meta`` with the call id added (a copy; the input is not changed)."""
    out = dict(meta) if isinstance(meta, Mapping) else {}
    out[TOOL_CALL_ID_META_KEY] = tool_call_id
    return out


def call_id_or_none(call_id: Any) -> Optional[str]:
    """A non-empty string id, or None."""
    return call_id if isinstance(call_id, str) and call_id != "" else None


def installed_package(distribution: str) -> dict[str, str]:
    """``{"name", "version"}`` of an installed distribution, from its metadata."""
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError as e:
        raise SdkLogError(f"assay-runner-sdk: {distribution} is not installed in this environment") from e
    name = dist.metadata["Name"]
    version = dist.version
    if not name or not version:
        raise SdkLogError(f"assay-runner-sdk: the metadata of {distribution} has no name or version")
    return {"name": name, "version": version}


class SdkLog:
    """Writer of one run's records. Thread-safe; one run per log."""

    @classmethod
    def from_env(
        cls,
        sdk: Union[SdkInfo, Callable[[], SdkInfo]],
        env: Optional[Mapping[str, str]] = None,
    ) -> "SdkLog":
        """The log ``env["ASSAY_SDK_LOG"]`` (default ``os.environ``) names, or a disabled log when
        it is unset or empty. ``sdk`` (or what it returns) is only needed when enabled. Raises
        SdkLogError, naming the path, when the file cannot be opened."""
        env = os.environ if env is None else env
        path = env.get("ASSAY_SDK_LOG") or None
        if path is None:
            return cls(None)
        return cls(path, sdk=sdk, run_id=env.get("ASSAY_RUN_ID") or "standalone")

    @classmethod
    def disabled(cls) -> "SdkLog":
        return cls(None)

    def __init__(
        self,
        path: Optional[str],
        *,
        sdk: Union[SdkInfo, Callable[[], SdkInfo], None] = None,
        run_id: str = "standalone",
    ) -> None:
        self._path = path or None
        self._run_id = run_id
        self._fd: Optional[int] = None
        self._sdk: Optional[dict[str, str]] = None
        self._seq = 0
        self._open: dict[str, int] = {}
        self._state = "new"  # new | running | finished | failed | closed
        self._lock = threading.Lock()
        if self._path is None:
            return
        info = sdk() if callable(sdk) else sdk
        name = info.get("name") if isinstance(info, Mapping) else None
        version = info.get("version") if isinstance(info, Mapping) else None
        if not isinstance(name, str) or not name or not isinstance(version, str) or not version:
            raise SdkLogError(f"assay-runner-sdk: the SDK's name and version are unknown (got {info!r})")
        self._sdk = {"name": name, "version": version}
        try:
            self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise SdkLogError(
                f"assay-runner-sdk: cannot open $ASSAY_SDK_LOG ({self._path}) for appending: {e.strerror or e}"
            ) from e

    @property
    def enabled(self) -> bool:
        return self._path is not None

    @property
    def path(self) -> Optional[str]:
        return self._path

    @property
    def sdk(self) -> Optional[dict[str, str]]:
        return dict(self._sdk) if self._sdk else None

    @property
    def seq(self) -> int:
        return self._seq

    def run_started(self) -> None:
        if not self.enabled:
            return
        with self._lock:
            if self._state != "new":
                self._misuse(f"run_started after {self._seq} records: one run per $ASSAY_SDK_LOG")
            self._append({"event_type": "run_started"})
            self._state = "running"

    def tool_call_started(self, tool_call_id: Optional[str], tool: str) -> None:
        """``tool_call_id`` None: the model gave the call no id (the record then has none)."""
        if not self.enabled:
            return
        with self._lock:
            self._expect_running("tool_call_started")
            call_id = call_id_or_none(tool_call_id)
            if call_id is not None and self._open.get(call_id):
                self._misuse(f"tool call {call_id} started while a call with the same id is in flight")
            self._append({"event_type": "tool_call_started", "tool_call_id": call_id, "tool": str(tool)})
            if call_id is not None:
                self._open[call_id] = 1

    def tool_call_finished(self, tool_call_id: Optional[str], tool: str, outcome: Outcome) -> None:
        if not self.enabled:
            return
        with self._lock:
            self._expect_running("tool_call_finished")
            if outcome not in ("ok", "error"):
                self._misuse(f'outcome must be "ok" or "error", not {outcome!r}')
            call_id = call_id_or_none(tool_call_id)
            if call_id is not None and not self._open.get(call_id):
                self._misuse(f"tool call {call_id} finished without having started")
            self._append(
                {"event_type": "tool_call_finished", "tool_call_id": call_id, "tool": str(tool), "outcome": outcome}
            )
            if call_id is not None:
                self._open.pop(call_id, None)

    def run_finished(self) -> None:
        if not self.enabled:
            return
        with self._lock:
            self._expect_running("run_finished")
            if self._open:
                self._misuse(f"run_finished with calls still in flight: {', '.join(self._open)}")
            self._append({"event_type": "run_finished"})
            self._state = "finished"

    def close(self) -> None:
        with self._lock:
            if self._fd is None:
                return
            fd, self._fd = self._fd, None
            self._state = "closed"
            os.close(fd)

    def _expect_running(self, what: str) -> None:
        if self._state == "new":
            self._misuse(f"{what} before run_started")
        if self._state != "running":
            self._misuse(f"{what} after the log was {self._state}")

    def _misuse(self, message: str) -> None:
        raise SdkLogError(f"assay-runner-sdk: {message} ($ASSAY_SDK_LOG {self._path})")

    def _append(self, fields: dict[str, Any]) -> None:
        if self._fd is None or self._state == "failed":
            self._misuse(
                "cannot write: the log is "
                + ("broken by an earlier write error" if self._state == "failed" else "closed")
            )
        record: dict[str, Any] = {
            "schema": SCHEMA,
            "run_id": self._run_id,
            "seq": self._seq,
            "event_type": fields["event_type"],
        }
        for key in ("tool_call_id", "tool", "outcome"):
            if fields.get(key) is not None:
                record[key] = fields[key]
        record["sdk"] = self._sdk
        # CLOCK_MONOTONIC ns (time.monotonic_ns on Linux), the clock of the kernel layer.
        record["diag"] = {"pid": os.getpid(), "monotonic_ns": time.monotonic_ns()}
        data = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fsync(self._fd)
        except OSError as e:
            self._state = "failed"
            raise SdkLogError(
                f"assay-runner-sdk: cannot append to $ASSAY_SDK_LOG ({self._path}): {e.strerror or e}"
            ) from e
        self._seq += 1
