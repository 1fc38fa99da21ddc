// An @google/genai agent as the SDK's docs write one with MCP (mcpToTool + automatic function
// calling), against a scripted fake of the Gemini API on a loopback port. `--adapter` adds
// @assay/runner-sdk; `--parallel` makes the model ask for all calls in one response; `--no-ids`
// makes it send function calls without ids. Prints a JSON transcript: the request bodies the
// fake received, and the final text.
import { createServer } from "node:http";
import { fileURLToPath } from "node:url";
import { GoogleGenAI, mcpToTool } from "@google/genai";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { assayGenAI } from "@assay/runner-sdk/genai";

const useAdapter = process.argv.includes("--adapter");
const parallel = process.argv.includes("--parallel");
const noIds = process.argv.includes("--no-ids");
const MODEL = "gemini-scripted";

const calls = [
  { id: "gm-echo-1", name: "echo", args: { text: "a" } },
  { id: "gm-refuse-2", name: "refuse", args: { text: "b" } },
  { id: "gm-echo-3", name: "echo", args: { text: "c" } },
];
const turns = parallel ? [calls] : calls.map((c) => [c]);
const seen = [];

function answer(request) {
  seen.push(request);
  const responses = (request.contents ?? []).flatMap((c) => c?.parts ?? []).filter((p) => p.functionResponse);
  const turn = turns.findIndex((_, i) => turns.slice(0, i).flat().length === responses.length);
  const parts =
    turn >= 0 && turn < turns.length
      ? turns[turn].map((c) => ({ functionCall: noIds ? { name: c.name, args: c.args } : { id: c.id, name: c.name, args: c.args } }))
      : [{ text: responses.map((r) => `${r.functionResponse.id ?? "-"}:${r.functionResponse.name}`).join(";") }];
  return { candidates: [{ content: { role: "model", parts }, finishReason: "STOP", index: 0 }] };
}

const fake = createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = JSON.stringify(answer(JSON.parse(Buffer.concat(chunks).toString("utf8"))));
    res.writeHead(200, { "content-type": "application/json", connection: "close" });
    res.end(body);
  });
});
await new Promise((resolve) => fake.listen(0, "127.0.0.1", resolve));

const assay = useAdapter ? assayGenAI() : null;
const ai = new GoogleGenAI({ apiKey: "dummy", httpOptions: { baseUrl: `http://127.0.0.1:${fake.address().port}` } });
const client = new Client({ name: "test-genai", version: "1.0.0" });
await client.connect(
  new StdioClientTransport({
    command: process.execPath,
    args: [fileURLToPath(new URL("./mcp-server.mjs", import.meta.url))],
    env: Object.fromEntries(Object.entries(process.env).filter(([, v]) => typeof v === "string")),
  }),
);
try {
  const generate = () =>
    ai.models.generateContent({
      model: MODEL,
      contents: "go",
      config: {
        tools: [assay ? assay.mcpToTool(mcpToTool, client) : mcpToTool(client)],
        automaticFunctionCalling: { maximumRemoteCalls: 10 },
      },
    });
  const response = assay ? await assay.run(generate) : await generate();
  process.stdout.write(`${JSON.stringify({ seen, text: response.text })}\n`);
} finally {
  await client.close();
  fake.close();
}
