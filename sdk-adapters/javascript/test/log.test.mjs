import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { SCHEMA, SdkLog, TOOL_CALL_ID_META_KEY, withToolCallId } from "@assay/runner-sdk";
import { readRecords, schema, storyProblems, tempDir } from "./support/records.mjs";

const SDK = { name: "@openai/agents", version: "0.20.0" };

test("the schema id this package writes is the repository's", () => {
  assert.equal(SCHEMA, schema.$id.replace(/^urn:/, ""));
  assert.equal(schema.properties.schema.const, SCHEMA);
});

test("a full run's records are valid sdk_event records telling a coherent story", () => {
  const path = join(tempDir(), "sdk.ndjson");
  const log = SdkLog.fromEnv({ sdk: SDK, env: { ASSAY_SDK_LOG: path, ASSAY_RUN_ID: "run-7" } });
  assert.equal(log.enabled, true);
  log.runStarted();
  log.toolCallStarted("c1", "read_text_file");
  log.toolCallStarted("c2", "write_text_file");
  log.toolCallFinished("c2", "write_text_file", "error");
  log.toolCallFinished("c1", "read_text_file", "ok");
  log.runFinished();
  log.close();
  const records = readRecords(path);
  assert.deepEqual(storyProblems(records), []);
  assert.deepEqual(
    records.map((r) => [r.seq, r.event_type, r.tool_call_id ?? null, r.tool ?? null, r.outcome ?? null]),
    [
      [0, "run_started", null, null, null],
      [1, "tool_call_started", "c1", "read_text_file", null],
      [2, "tool_call_started", "c2", "write_text_file", null],
      [3, "tool_call_finished", "c2", "write_text_file", "error"],
      [4, "tool_call_finished", "c1", "read_text_file", "ok"],
      [5, "run_finished", null, null, null],
    ],
  );
  for (const r of records) {
    assert.equal(r.run_id, "run-7");
    assert.deepEqual(r.sdk, SDK);
    assert.equal(r.diag.pid, process.pid);
    assert.ok(Number.isInteger(r.diag.monotonic_ns) && r.diag.monotonic_ns > 0);
    assert.deepEqual(Object.keys(r).slice(0, 4), ["schema", "run_id", "seq", "event_type"]);
  }
  assert.ok(records.every((r, i) => i === 0 || r.diag.monotonic_ns >= records[i - 1].diag.monotonic_ns));
});

test("monotonic_ns is written as an exact integer", () => {
  const path = join(tempDir(), "sdk.ndjson");
  const log = SdkLog.fromEnv({ sdk: SDK, env: { ASSAY_SDK_LOG: path } });
  const before = process.hrtime.bigint();
  log.runStarted();
  const after = process.hrtime.bigint();
  const ns = BigInt(/"monotonic_ns":(\d+)\}/.exec(readFileSync(path, "utf8"))[1]);
  assert.ok(ns >= before && ns <= after);
  assert.equal(readRecords(path)[0].run_id, "standalone");
});

test("records are appended to an existing log", () => {
  const path = join(tempDir(), "sdk.ndjson");
  writeFileSync(path, "");
  const log = SdkLog.fromEnv({ sdk: SDK, env: { ASSAY_SDK_LOG: path } });
  log.runStarted();
  log.runFinished();
  assert.equal(readRecords(path).length, 2);
});

test("unset or empty ASSAY_SDK_LOG: disabled, nothing opened, the SDK's version never asked", () => {
  for (const env of [{}, { ASSAY_SDK_LOG: "" }]) {
    const log = SdkLog.fromEnv({
      env,
      sdk: () => {
        throw new Error("must not be asked");
      },
    });
    assert.equal(log.enabled, false);
    assert.equal(log.path, null);
    log.runStarted();
    log.toolCallStarted("x", "t");
    log.toolCallFinished("y", "t", "bogus");
    log.runFinished();
    log.runStarted();
    log.close();
  }
});

test("an unwritable log fails loudly, naming the path", () => {
  const dir = tempDir();
  const missing = join(dir, "no-such-dir", "sdk.ndjson");
  assert.throws(() => SdkLog.fromEnv({ sdk: SDK, env: { ASSAY_SDK_LOG: missing } }), (e) => {
    assert.match(e.message, /cannot open \$ASSAY_SDK_LOG/);
    assert.ok(e.message.includes(missing), e.message);
    assert.equal(e.cause.code, "ENOENT");
    return true;
  });
  const aDir = join(dir, "a-directory");
  mkdirSync(aDir);
  assert.throws(() => SdkLog.fromEnv({ sdk: SDK, env: { ASSAY_SDK_LOG: aDir } }), (e) => e.message.includes(aDir));
  assert.equal(existsSync(missing), false);
});

test("a failing write throws, naming the path, and the log stays broken", { skip: !existsSync("/dev/full") }, () => {
  const log = SdkLog.fromEnv({ sdk: SDK, env: { ASSAY_SDK_LOG: "/dev/full" } });
  assert.throws(() => log.runStarted(), (e) => {
    assert.match(e.message, /cannot append to \$ASSAY_SDK_LOG \(\/dev\/full\)/);
    assert.equal(e.cause.code, "ENOSPC");
    return true;
  });
  assert.throws(() => log.runStarted(), /broken by an earlier write error|run_started after/);
});

test("an unknown SDK version is an error when enabled", () => {
  const path = join(tempDir(), "sdk.ndjson");
  assert.throws(() => SdkLog.fromEnv({ sdk: { name: "x" }, env: { ASSAY_SDK_LOG: path } }), /name and version are unknown/);
});

test("misuse that would make the story incoherent throws instead of writing", () => {
  const path = join(tempDir(), "sdk.ndjson");
  const log = SdkLog.fromEnv({ sdk: SDK, env: { ASSAY_SDK_LOG: path } });
  assert.throws(() => log.toolCallStarted("c", "t"), /before run_started/);
  log.runStarted();
  assert.throws(() => log.runStarted(), /one run per/);
  assert.throws(() => log.toolCallFinished("c", "t", "ok"), /without having started/);
  log.toolCallStarted("c", "t");
  assert.throws(() => log.toolCallStarted("c", "t"), /in flight/);
  assert.throws(() => log.toolCallFinished("c", "t", "maybe"), /outcome/);
  assert.throws(() => log.runFinished(), /still in flight: c/);
  log.toolCallFinished("c", "t", "ok");
  log.toolCallStarted("c", "t"); // an id may be used again once finished
  log.toolCallFinished("c", "t", "ok");
  log.runFinished();
  assert.throws(() => log.toolCallStarted("d", "t"), /after the log was finished/);
  log.close();
  assert.deepEqual(storyProblems(readRecords(path)), []);
});

test("a call without an id is recorded without one (never guessed)", () => {
  const path = join(tempDir(), "sdk.ndjson");
  const log = SdkLog.fromEnv({ sdk: SDK, env: { ASSAY_SDK_LOG: path } });
  log.runStarted();
  log.toolCallStarted(undefined, "t");
  log.toolCallFinished("", "t", "ok");
  log.runFinished();
  const records = readRecords(path);
  assert.equal(records[1].tool_call_id, undefined);
  assert.equal(records[2].tool_call_id, undefined);
  assert.deepEqual(storyProblems(records), ["seq 1: tool_call_id/tool", "seq 2: tool_call_id/tool"]);
});

test("withToolCallId adds the key without touching the input", () => {
  const meta = { other: 1 };
  assert.deepEqual(withToolCallId(meta, "id-1"), { other: 1, [TOOL_CALL_ID_META_KEY]: "id-1" });
  assert.deepEqual(meta, { other: 1 });
  assert.deepEqual(withToolCallId(undefined, "id-2"), { "assay.dev/tool_call_id": "id-2" });
});
