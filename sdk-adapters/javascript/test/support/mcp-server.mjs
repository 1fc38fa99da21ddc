// A stdio MCP server for the tests (official SDK). Every line it reads is appended to the file
// named by $TEST_MCP_LOG, so tests can compare what reached the server. Tools: `echo` answers its
// text; `refuse` answers an error result (isError), as `mcp-wrap` answers a denied call.
import { appendFileSync } from "node:fs";
import { PassThrough } from "node:stream";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { z } from "zod";

const logPath = process.env.TEST_MCP_LOG;
const input = new PassThrough();
let pending = "";
process.stdin.on("data", (chunk) => {
  if (logPath) {
    pending += chunk.toString("utf8");
    const lines = pending.split("\n");
    pending = lines.pop();
    for (const line of lines) if (line.trim()) appendFileSync(logPath, `${line}\n`);
  }
  input.write(chunk);
});
process.stdin.on("end", () => input.end());

const server = new McpServer({ name: "adapter-test-server", version: "1.0.0" });
const text = (t, isError = false) => ({ content: [{ type: "text", text: t }], ...(isError ? { isError: true } : {}) });
server.registerTool("echo", { description: "Answer the text", inputSchema: { text: z.string() } }, async ({ text: t }) =>
  text(`echo: ${t}`),
);
server.registerTool("refuse", { description: "Answer an error result", inputSchema: { text: z.string() } }, async ({ text: t }) =>
  text(`refused: ${t}`, true),
);
await server.connect(new StdioServerTransport(input, process.stdout));
