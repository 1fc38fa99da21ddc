// The adapters' pieces on their own, on the runtimes' real objects (no stand-ins): resolver
// composition, scopes, disabled pass-through, and the genai tool's handling of calls it does not
// declare. MCP calls go to the stdio test server (support/mcp-server.mjs), which logs what it
// receives.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { Agent, MCPServerStdio, RunContext, Runner, tool } from "@openai/agents";
import { mcpToTool } from "@google/genai";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { z } from "zod";
import { SdkLog } from "@assay/runner-sdk";
import { assayGenAI } from "@assay/runner-sdk/genai";
import { assayOpenAIAgents } from "@assay/runner-sdk/openai-agents";
import { cleanEnv, mcpMessages, readRecords, storyProblems, tempDir } from "./support/records.mjs";

const MCP_SERVER = fileURLToPath(new URL("./support/mcp-server.mjs", import.meta.url));
const KEY = "assay.dev/tool_call_id";

const enabledLog = (name) =>
  SdkLog.fromEnv({ sdk: { name, version: "9.9.9" }, env: { ASSAY_SDK_LOG: join(tempDir(), "sdk.ndjson") } });

/** The stdio test server's launch options, logging to a fresh file: `{ mcpLog, command, args, env }`. */
function testServer() {
  const mcpLog = join(tempDir(), "mcp.ndjson");
  return { mcpLog, command: process.execPath, args: [MCP_SERVER], env: cleanEnv({ TEST_MCP_LOG: mcpLog }) };
}

const toolCalls = (path) => mcpMessages(path).filter((m) => m.method === "tools/call");

test("openai-agents, disabled: the SDK's server, tools, agent and runner are left untouched", () => {
  const assay = assayOpenAIAgents({ env: {} });
  assert.equal(assay.enabled, false);
  const resolver = () => ({ mine: 1 });
  assert.equal(assay.toolMetaResolver(resolver), resolver);
  assert.equal(assay.toolMetaResolver(undefined), undefined);

  const { command, args } = testServer();
  const server = new MCPServerStdio({ name: "s", command, args, toolMetaResolver: resolver });
  const serverProps = Object.getOwnPropertyNames(server);
  const callToolResult = server.callToolResult;
  assert.equal(assay.instrumentServer(server), server);
  assert.equal(server.toolMetaResolver, resolver);
  assert.equal(server.callToolResult, callToolResult);
  assert.deepEqual(Object.getOwnPropertyNames(server), serverProps);

  const fn = tool({ name: "t", description: "a local tool", parameters: z.object({}), execute: async () => "x" });
  const invoke = fn.invoke;
  assert.deepEqual(assay.wrapTools([fn]), [fn]);
  assert.equal(fn.invoke, invoke);

  const agent = new Agent({ name: "a", mcpServers: [server] });
  const getMcpTools = agent.getMcpTools;
  assert.equal(assay.instrumentAgent(agent), agent);
  assert.equal(agent.getMcpTools, getMcpTools);

  // The runner's lifecycle listeners (its emitter is the SDK's RuntimeEventEmitter).
  const EVENTS = ["agent_start", "agent_tool_start", "agent_tool_end", "agent_end"];
  const listeners = (runner) => EVENTS.map((e) => runner.eventEmitter.listenerCount(e));
  const runner = new Runner({ tracingDisabled: true });
  const before = listeners(runner);
  assert.equal(assay.instrument(runner), runner);
  assert.equal(assay.instrument({ runner, agents: [agent], mcpServers: [server] }), runner);
  assert.deepEqual(listeners(runner), before);
  // Enabled, the same call does add one listener per event (so the check above can fail).
  const enabled = new Runner({ tracingDisabled: true });
  assayOpenAIAgents({ log: enabledLog("@openai/agents") }).instrument(enabled);
  assert.deepEqual(
    listeners(enabled),
    before.map((n) => n + 1),
  );
});

test("openai-agents: the SDK's MCP tools send the call's id merged over the server's own _meta; no scope, no call", async () => {
  const { mcpLog, command, args, env } = testServer();
  const server = new MCPServerStdio({
    name: "s",
    command,
    args,
    env,
    cacheToolsList: true,
    toolMetaResolver: (context) => ({ mine: context.toolName }),
  });
  await server.connect();
  try {
    const assay = assayOpenAIAgents({ log: enabledLog("@openai/agents") });
    const agent = assay.instrumentAgent(new Agent({ name: "a", mcpServers: [server] }));
    assert.equal(assay.instrumentAgent(agent), agent); // idempotent
    const runContext = new RunContext();
    const tools = await agent.getMcpTools(runContext);
    const echo = tools.find((t) => t.name === "echo");
    assert.ok(echo, `the SDK's tools: ${tools.map((t) => t.name)}`);
    assay.wrapTools(tools); // already wrapped: idempotent

    // The SDK invokes a function tool with the model's call in `details.toolCall`; concurrently here.
    const call = (callId, text) =>
      echo.invoke(runContext, JSON.stringify({ text }), {
        toolCall: { type: "function_call", callId, name: "echo", arguments: JSON.stringify({ text }) },
      });
    const results = await Promise.all([call("id-a", "a"), call("id-b", "b")]);
    assert.match(JSON.stringify(results[0]), /echo: a/);
    assert.match(JSON.stringify(results[1]), /echo: b/);
    assert.deepEqual(
      toolCalls(mcpLog)
        .map((m) => [m.params.arguments.text, m.params._meta])
        .sort(),
      [
        ["a", { mine: "echo", [KEY]: "id-a" }],
        ["b", { mine: "echo", [KEY]: "id-b" }],
      ],
    );

    // The resolver as the SDK calls it, outside any instrumented tool call: refused, nothing sent.
    await assert.rejects(
      server.toolMetaResolver({ runContext, serverName: "s", toolName: "echo", arguments: { text: "c" } }),
      /outside an instrumented tool call/,
    );
    assert.equal(toolCalls(mcpLog).length, 2);
  } finally {
    await server.close();
  }
});

test("genai, disabled: the adapter's mcpToTool is the SDK's own over the clients given; run just runs", async () => {
  const assay = assayGenAI({ env: {} });
  assert.equal(assay.enabled, false);
  const client = new Client({ name: "test-genai", version: "1.0.0" });
  const sdkTool = mcpToTool(client, { timeout: 5 });
  const adapted = assay.mcpToTool(mcpToTool, client, { timeout: 5 });
  assert.equal(Object.getPrototypeOf(adapted), Object.getPrototypeOf(sdkTool));
  assert.deepEqual(adapted.mcpClients, [client]); // the client itself, not a proxy
  assert.deepEqual(adapted.config, sdkTool.config);
  assert.equal(assay.mcpClient(client), client);
  assert.equal(await assay.run(() => 42), 42);
  assert.throws(() => assay.mcpToTool(client), /pass the SDK's mcpToTool/);
});

test("genai: a call the tool does not declare is left to others, as the SDK's own tool does", async () => {
  const { mcpLog, command, args, env } = testServer();
  const client = new Client({ name: "test-genai", version: "1.0.0" });
  await client.connect(new StdioClientTransport({ command, args, env }));
  try {
    const calls = [
      { id: "x", name: "other", args: {} },
      { id: "y", name: "echo", args: { text: "a" } },
    ];
    // The SDK's own tool answers only its own functions (and drops the id).
    const own = await mcpToTool(client).callTool(calls);
    assert.deepEqual(
      own.map((p) => [p.functionResponse?.id ?? null, p.functionResponse?.name]),
      [[null, "echo"]],
    );

    const log = enabledLog("@google/genai");
    const assay = assayGenAI({ log });
    const adapted = assay.mcpToTool(mcpToTool, client);
    assert.deepEqual(await adapted.tool(), await mcpToTool(client).tool()); // the same declarations
    log.runStarted();
    const parts = await adapted.callTool(calls);
    log.runFinished();
    assert.deepEqual(
      parts.map((p) => [p.functionResponse?.id, p.functionResponse?.name]),
      [["y", "echo"]],
    );
    assert.deepEqual(
      parts[0].functionResponse.response,
      own[0].functionResponse.response,
      "the adapter's answer is the SDK's, with the id",
    );
    const records = readRecords(log.path);
    assert.deepEqual(storyProblems(records), []);
    assert.deepEqual(
      records.filter((r) => r.tool_call_id).map((r) => [r.event_type, r.tool_call_id, r.tool, r.outcome ?? null]),
      [
        ["tool_call_started", "y", "echo", null],
        ["tool_call_finished", "y", "echo", "ok"],
      ],
    );
    // Two tools/call reached the server: the SDK's own (no _meta), then the adapter's (the id).
    assert.deepEqual(
      toolCalls(mcpLog).map((m) => [m.params.name, m.params._meta?.[KEY] ?? null]),
      [
        ["echo", null],
        ["echo", "y"],
      ],
    );
  } finally {
    await client.close();
  }
});
