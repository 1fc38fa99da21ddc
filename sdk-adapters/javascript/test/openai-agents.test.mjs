// @openai/agents 0.20 with the adapter: a docs-style agent (Agent with mcpServers, a Runner) with
// a scripted model, against a stdio MCP server that logs what it receives.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { cleanEnv, mcpMessages, readRecords, runAgent, storyProblems, tempDir } from "./support/records.mjs";

const IDS = ["call-echo-1", "call-refuse-2", "call-echo-3"];

async function run(args, { log = true } = {}) {
  const dir = tempDir();
  const env = cleanEnv({ TEST_MCP_LOG: join(dir, "mcp.ndjson"), ...(log ? { ASSAY_SDK_LOG: join(dir, "sdk.ndjson") } : {}) });
  const out = await runAgent("openai-agent.mjs", args, env);
  assert.equal(out.code, 0, out.stderr);
  return { dir, out, transcript: JSON.parse(out.stdout), mcp: mcpMessages(env.TEST_MCP_LOG), sdkLog: env.ASSAY_SDK_LOG };
}

const toolCalls = (mcp) => mcp.filter((m) => m.method === "tools/call");

for (const parallel of [false, true]) {
  test(`records and _meta ids (${parallel ? "parallel calls in one response" : "one call per turn"})`, async () => {
    const { mcp, sdkLog } = await run(["--adapter", ...(parallel ? ["--parallel"] : [])]);
    const records = readRecords(sdkLog);
    assert.deepEqual(storyProblems(records), []);
    assert.ok(records.every((r) => r.sdk.name === "@openai/agents" && r.sdk.version === "0.20.0"));
    const started = records.filter((r) => r.event_type === "tool_call_started");
    assert.deepEqual(started.map((r) => [r.tool_call_id, r.tool]), [
      ["call-echo-1", "echo"],
      ["call-refuse-2", "refuse"],
      ["call-echo-3", "echo"],
    ]);
    const finished = new Map(records.filter((r) => r.event_type === "tool_call_finished").map((r) => [r.tool_call_id, r.outcome]));
    assert.deepEqual(Object.fromEntries(finished), { "call-echo-1": "ok", "call-refuse-2": "error", "call-echo-3": "ok" });
    // Every MCP tools/call carried the id of the call it executes.
    const sent = toolCalls(mcp).map((m) => [m.params._meta?.["assay.dev/tool_call_id"], m.params.name, m.params.arguments.text]);
    assert.deepEqual(sent.sort(), [
      ["call-echo-1", "echo", "a"],
      ["call-echo-3", "echo", "c"],
      ["call-refuse-2", "refuse", "b"],
    ]);
    if (parallel) {
      // All three started before any finished: the SDK ran them concurrently.
      assert.deepEqual(records.slice(1, 4).map((r) => r.event_type), Array(3).fill("tool_call_started"));
    }
  });
}

test("without ASSAY_SDK_LOG an agent with the adapter behaves exactly as one without it", async () => {
  for (const extra of [[], ["--parallel"]]) {
    const plain = await run(extra, { log: false });
    const adapted = await run(["--adapter", ...extra], { log: false });
    assert.deepEqual(adapted.transcript, plain.transcript);
    assert.deepEqual(adapted.mcp, plain.mcp);
    assert.equal(adapted.out.stderr, plain.out.stderr);
    assert.ok(toolCalls(plain.mcp).length === IDS.length);
    assert.ok(toolCalls(adapted.mcp).every((m) => m.params._meta === undefined));
    assert.equal(existsSync(join(adapted.dir, "sdk.ndjson")), false);
  }
});

test("an unwritable ASSAY_SDK_LOG stops the agent before it starts, naming the path", async () => {
  const dir = tempDir();
  const path = join(dir, "missing", "sdk.ndjson");
  const env = cleanEnv({ TEST_MCP_LOG: join(dir, "mcp.ndjson"), ASSAY_SDK_LOG: path });
  const out = await runAgent("openai-agent.mjs", ["--adapter"], env);
  assert.notEqual(out.code, 0);
  assert.ok(out.stderr.includes(`cannot open $ASSAY_SDK_LOG (${path})`), out.stderr);
  assert.deepEqual(mcpMessages(env.TEST_MCP_LOG), []);
});
