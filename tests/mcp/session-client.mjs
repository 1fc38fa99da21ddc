// Test-only scripted MCP client (the official SDK's Client over stdio). Starts the server
// command given after `--`, runs one fixed session and prints what the client saw as one JSON
// document. tests/mcp_wrap.rs runs it against server-everything directly and through
// `assay-runner mcp-wrap`, and compares the two documents.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { CreateMessageRequestSchema } from "@modelcontextprotocol/sdk/types.js";

const argv = process.argv.slice(process.argv.indexOf("--") + 1);
const transport = new StdioClientTransport({ command: argv[0], args: argv.slice(1), stderr: "ignore" });
const client = new Client({ name: "assay-session", version: "1.0.0" }, { capabilities: { sampling: {} } });
const seen = { samplingRequests: [] };
client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
  seen.samplingRequests.push(req.params.messages);
  return { model: "scripted", role: "assistant", content: { type: "text", text: "scripted answer" } };
});
const step = async (name, f) => {
  try { seen[name] = await f(); } catch (e) { seen[name] = { thrown: String(e?.name), code: e?.code ?? null, message: String(e?.message) }; }
};
await client.connect(transport);
seen.server = client.getServerVersion()?.name;
await step("tools", async () => (await client.listTools()).tools.map((t) => t.name).sort());
await step("echo", () => client.callTool({ name: "echo", arguments: { message: "hello" } }));
await step("sum", () => client.callTool({ name: "get-sum", arguments: { a: 2, b: 3 } }));
await step("badArgs", () => client.callTool({ name: "get-sum", arguments: { a: "x" } }));
const progress = [];
await step("longRunning", () => client.callTool(
  { name: "trigger-long-running-operation", arguments: { duration: 0.3, steps: 3 } },
  undefined,
  { onprogress: (p) => progress.push([p.progress, p.total]) }));
// The last step's notification races with the response inside the SDK (which drops progress
// for a settled request), directly as well as wrapped: compare the steps before it.
seen.progress = progress.filter(([p, total]) => p < total);
await step("sampling", () => client.callTool({ name: "trigger-sampling-request", arguments: { prompt: "say hi", maxTokens: 5 } }));
await step("resources", async () => {
  const r = await client.listResources();
  const first = r.resources[0];
  const read = await client.readResource({ uri: first.uri });
  return { count: r.resources.length, first, read };
});
await step("prompts", async () => {
  const p = await client.listPrompts();
  const got = await client.getPrompt({ name: p.prompts.find((x) => (x.arguments ?? []).length === 0).name });
  return { names: p.prompts.map((x) => x.name).sort(), got };
});
await step("ping", () => client.ping());
await step("cancelled", async () => {
  const ac = new AbortController();
  setTimeout(() => ac.abort("test cancels"), 200);
  return client.callTool({ name: "trigger-long-running-operation", arguments: { duration: 5, steps: 5 } }, undefined, { signal: ac.signal });
});
await step("afterCancel", () => client.callTool({ name: "echo", arguments: { message: "still alive" } }));
await step("unknownMethod", () => client.request({ method: "server/discover", params: {} }, CreateMessageRequestSchema));
await client.close();
process.stdout.write(JSON.stringify(seen, null, 1) + "\n");
