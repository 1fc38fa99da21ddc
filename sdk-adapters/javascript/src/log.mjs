// The SDK layer's writer: `assay.runner.sdk_event.v0` records, one JSON line each, appended to
// the file `$ASSAY_SDK_LOG` names (docs/contracts/sdk_event.md). Each line is written whole on a
// descriptor opened for appending and fsync(2)ed before the agent goes on, so a line is either
// complete and durable or absent. When `$ASSAY_SDK_LOG` is unset or empty the log is disabled:
// nothing is opened, nothing is written, and every method does nothing.
import { closeSync, fsyncSync, openSync, writeSync } from "node:fs";

/** The record schema this package writes. Its version is the package's major version. */
export const SCHEMA = "assay.runner.sdk_event.v0";

/** The `_meta` key that carries a tool call's id to the MCP server (and to `mcp-wrap`). */
export const TOOL_CALL_ID_META_KEY = "assay.dev/tool_call_id";

const OUTCOMES = new Set(["ok", "error"]);

/** `params._meta` with the call id added (a copy; the input is not changed). */
export function withToolCallId(meta, toolCallId) {
  return { ...(meta && typeof meta === "object" ? meta : {}), [TOOL_CALL_ID_META_KEY]: toolCallId };
}

/** A non-empty string id, or null. */
export function callIdOrNull(id) {
  return typeof id === "string" && id !== "" ? id : null;
}

export class SdkLog {
  #path;
  #fd = null;
  #sdk = null;
  #runId;
  #seq = 0;
  #open = new Map(); // tool call id -> number of unfinished starts
  #state = "new"; // new | running | finished | failed | closed

  /**
   * The log named by `env.ASSAY_SDK_LOG` (default `process.env`), or a disabled log when it is
   * unset or empty. `sdk` is `{ name, version }` or a function returning it; it is only called
   * when the log is enabled. Throws, naming the path, when the file cannot be opened.
   */
  static fromEnv({ sdk, env = process.env } = {}) {
    const path = env.ASSAY_SDK_LOG;
    if (!path) return new SdkLog(null);
    return new SdkLog(path, { sdk, runId: env.ASSAY_RUN_ID || "standalone" });
  }

  /** A disabled log. */
  static disabled() {
    return new SdkLog(null);
  }

  constructor(path, { sdk, runId = "standalone" } = {}) {
    this.#path = path || null;
    this.#runId = runId;
    if (!this.#path) return;
    const info = typeof sdk === "function" ? sdk() : sdk;
    if (typeof info?.name !== "string" || !info.name || typeof info?.version !== "string" || !info.version) {
      throw new Error(`@assay/runner-sdk: the SDK's name and version are unknown (got ${JSON.stringify(info ?? null)})`);
    }
    this.#sdk = { name: info.name, version: info.version };
    try {
      this.#fd = openSync(this.#path, "a", 0o644);
    } catch (error) {
      throw new Error(`@assay/runner-sdk: cannot open $ASSAY_SDK_LOG (${this.#path}) for appending: ${error.message}`, {
        cause: error,
      });
    }
  }

  /** Whether records are written. */
  get enabled() {
    return this.#path !== null;
  }

  /** The log's path, or null when disabled. */
  get path() {
    return this.#path;
  }

  /** The SDK the records name, or null when disabled. */
  get sdk() {
    return this.#sdk ? { ...this.#sdk } : null;
  }

  /** The next record's `seq`. */
  get seq() {
    return this.#seq;
  }

  runStarted() {
    if (!this.enabled) return;
    if (this.#state !== "new") this.#misuse(`run_started after ${this.#seq} records: one run per $ASSAY_SDK_LOG`);
    this.#append({ event_type: "run_started" });
    this.#state = "running";
  }

  /** `toolCallId` null: the model gave the call no id (the record then has none: never guessed). */
  toolCallStarted(toolCallId, tool) {
    if (!this.enabled) return;
    this.#expectRunning("tool_call_started");
    const id = callIdOrNull(toolCallId);
    if (id !== null && this.#open.get(id)) this.#misuse(`tool call ${id} started while a call with the same id is in flight`);
    this.#append({ event_type: "tool_call_started", tool_call_id: id, tool: String(tool) });
    if (id !== null) this.#open.set(id, 1);
  }

  toolCallFinished(toolCallId, tool, outcome) {
    if (!this.enabled) return;
    this.#expectRunning("tool_call_finished");
    if (!OUTCOMES.has(outcome)) this.#misuse(`outcome must be "ok" or "error", not ${JSON.stringify(outcome)}`);
    const id = callIdOrNull(toolCallId);
    if (id !== null && !this.#open.get(id)) this.#misuse(`tool call ${id} finished without having started`);
    this.#append({ event_type: "tool_call_finished", tool_call_id: id, tool: String(tool), outcome });
    if (id !== null) this.#open.delete(id);
  }

  runFinished() {
    if (!this.enabled) return;
    this.#expectRunning("run_finished");
    if (this.#open.size > 0) this.#misuse(`run_finished with calls still in flight: ${[...this.#open.keys()].join(", ")}`);
    this.#append({ event_type: "run_finished" });
    this.#state = "finished";
  }

  /** Closes the descriptor; later records throw. */
  close() {
    if (this.#fd === null) return;
    const fd = this.#fd;
    this.#fd = null;
    this.#state = "closed";
    closeSync(fd);
  }

  #expectRunning(what) {
    if (this.#state === "new") this.#misuse(`${what} before run_started`);
    if (this.#state !== "running") this.#misuse(`${what} after the log was ${this.#state}`);
  }

  #misuse(message) {
    throw new Error(`@assay/runner-sdk: ${message} ($ASSAY_SDK_LOG ${this.#path})`);
  }

  #append(fields) {
    if (this.#fd === null || this.#state === "failed") {
      this.#misuse(`cannot write: the log is ${this.#state === "failed" ? "broken by an earlier write error" : "closed"}`);
    }
    const record = { schema: SCHEMA, run_id: this.#runId, seq: this.#seq, event_type: fields.event_type };
    if (fields.tool_call_id != null) record.tool_call_id = fields.tool_call_id;
    if (fields.tool !== undefined) record.tool = fields.tool;
    if (fields.outcome !== undefined) record.outcome = fields.outcome;
    record.sdk = this.#sdk;
    // CLOCK_MONOTONIC ns as an exact integer (a JS number would round past 2^53).
    const json = JSON.stringify(record);
    const line = `${json.slice(0, -1)},"diag":{"pid":${process.pid},"monotonic_ns":${process.hrtime.bigint()}}}\n`;
    const bytes = Buffer.from(line, "utf8");
    try {
      let off = 0;
      while (off < bytes.length) off += writeSync(this.#fd, bytes, off, bytes.length - off);
      fsyncSync(this.#fd);
    } catch (error) {
      this.#state = "failed";
      throw new Error(`@assay/runner-sdk: cannot append to $ASSAY_SDK_LOG (${this.#path}): ${error.message}`, {
        cause: error,
      });
    }
    this.#seq += 1;
  }
}
