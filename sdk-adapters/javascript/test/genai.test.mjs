// @google/genai 2.32 with the adapter: mcpToTool + automatic function calling against a scripted
// fake Gemini API, with a stdio MCP server that logs what it receives.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { cleanEnv, mcpMessages, readRecords, runAgent, storyProblems, tempDir } from "./support/records.mjs";

async function run(args, { log = true } = {}) {
  const dir = tempDir();
  const env = cleanEnv({ TEST_MCP_LOG: join(dir, "mcp.ndjson"), ...(log ? { ASSAY_SDK_LOG: join(dir, "sdk.ndjson") } : {}) });
  const out = await runAgent("genai-agent.mjs", args, env);
  assert.equal(out.code, 0, out.stderr);
  return { dir, out, transcript: JSON.parse(out.stdout), mcp: mcpMessages(env.TEST_MCP_LOG), sdkLog: env.ASSAY_SDK_LOG };
}

const toolCalls = (mcp) => mcp.filter((m) => m.method === "tools/call");

for (const parallel of [false, true]) {
  test(`records, _meta ids and functionResponse ids (${parallel ? "parallel calls in one response" : "one call per turn"})`, async () => {
    const { mcp, sdkLog, transcript } = await run(["--adapter", ...(parallel ? ["--parallel"] : [])]);
    const records = readRecords(sdkLog);
    assert.deepEqual(storyProblems(records), []);
    assert.ok(records.every((r) => r.sdk.name === "@google/genai" && r.sdk.version === "2.32.0"));
    // The SDK runs a response's calls one at a time, in order; so does the adapter.
    assert.deepEqual(
      records.map((r) => [r.event_type, r.tool_call_id ?? null, r.outcome ?? null]),
      [
        ["run_started", null, null],
        ["tool_call_started", "gm-echo-1", null],
        ["tool_call_finished", "gm-echo-1", "ok"],
        ["tool_call_started", "gm-refuse-2", null],
        ["tool_call_finished", "gm-refuse-2", "error"],
        ["tool_call_started", "gm-echo-3", null],
        ["tool_call_finished", "gm-echo-3", "ok"],
        ["run_finished", null, null],
      ],
    );
    assert.deepEqual(
      toolCalls(mcp).map((m) => [m.params._meta?.["assay.dev/tool_call_id"], m.params.name]),
      [
        ["gm-echo-1", "echo"],
        ["gm-refuse-2", "refuse"],
        ["gm-echo-3", "echo"],
      ],
    );
    assert.equal(transcript.text, "gm-echo-1:echo;gm-refuse-2:refuse;gm-echo-3:echo");
  });
}

test("function calls without ids are recorded and sent without ids, never guessed", async () => {
  const { mcp, sdkLog, transcript } = await run(["--adapter", "--no-ids"]);
  const records = readRecords(sdkLog);
  const calls = records.filter((r) => r.event_type.startsWith("tool_call"));
  assert.equal(calls.length, 6);
  assert.ok(calls.every((r) => r.tool_call_id === undefined));
  assert.ok(toolCalls(mcp).every((m) => m.params._meta === undefined));
  assert.equal(transcript.text, "-:echo;-:refuse;-:echo");
  assert.ok(storyProblems(records).length > 0); // the runner will call this layer partial
});

test("without ASSAY_SDK_LOG the adapter's tool is the SDK's own mcpToTool", async () => {
  for (const extra of [[], ["--parallel"]]) {
    const plain = await run(extra, { log: false });
    const adapted = await run(["--adapter", ...extra], { log: false });
    assert.deepEqual(adapted.transcript, plain.transcript);
    assert.deepEqual(adapted.mcp, plain.mcp);
    assert.equal(adapted.out.stderr, plain.out.stderr);
    assert.equal(toolCalls(plain.mcp).length, 3);
    assert.equal(plain.transcript.text, "-:echo;-:refuse;-:echo"); // the SDK drops the ids
    assert.equal(existsSync(join(adapted.dir, "sdk.ndjson")), false);
  }
});

test("an unwritable ASSAY_SDK_LOG stops the agent before it starts, naming the path", async () => {
  const dir = tempDir();
  const path = join(dir, "missing", "sdk.ndjson");
  const env = cleanEnv({ TEST_MCP_LOG: join(dir, "mcp.ndjson"), ASSAY_SDK_LOG: path });
  const out = await runAgent("genai-agent.mjs", ["--adapter"], env);
  assert.notEqual(out.code, 0);
  assert.ok(out.stderr.includes(`cannot open $ASSAY_SDK_LOG (${path})`), out.stderr);
  assert.deepEqual(toolCalls(mcpMessages(env.TEST_MCP_LOG)), []);
});
