// An @openai/agents agent as the SDK's docs write one (Agent with mcpServers, a Runner), with a
// scripted Model. `--adapter` adds @assay/runner-sdk; `--parallel` makes the model ask for all
// calls in one response. Prints a JSON transcript: what the model was sent, and the final output.
import { fileURLToPath } from "node:url";
import { Agent, MCPServerStdio, Runner, Usage, setTracingDisabled } from "@openai/agents";
import { assayOpenAIAgents } from "@assay/runner-sdk/openai-agents";

const useAdapter = process.argv.includes("--adapter");
const parallel = process.argv.includes("--parallel");
setTracingDisabled(true);

const calls = [
  { callId: "call-echo-1", name: "echo", args: { text: "a" } },
  { callId: "call-refuse-2", name: "refuse", args: { text: "b" } },
  { callId: "call-echo-3", name: "echo", args: { text: "c" } },
];
const turns = parallel ? [calls] : calls.map((c) => [c]);
const seen = [];

class ScriptedModel {
  async getResponse(request) {
    seen.push({ input: request.input, tools: request.tools.map((t) => ({ type: t.type, name: t.name, parameters: t.parameters })) });
    const input = Array.isArray(request.input) ? request.input : [];
    const results = input.filter((i) => i?.type === "function_call_result");
    const turn = turns.findIndex((_, i) => turns.slice(0, i).flat().length === results.length);
    const usage = new Usage();
    if (turn >= 0 && turn < turns.length) {
      return {
        usage,
        responseId: `response-${turn}`,
        output: turns[turn].map((c) => ({
          type: "function_call",
          id: `item-${c.callId}`,
          callId: c.callId,
          name: c.name,
          arguments: JSON.stringify(c.args),
          status: "completed",
        })),
      };
    }
    const text = results.map((r) => `${r.callId}=${JSON.stringify(r.output)}`).join(";");
    return {
      usage,
      responseId: "response-final",
      output: [
        { type: "message", id: "item-final", role: "assistant", status: "completed", content: [{ type: "output_text", text }] },
      ],
    };
  }

  // eslint-disable-next-line require-yield
  async *getStreamedResponse() {
    throw new Error("not scripted");
  }
}

const assay = useAdapter ? assayOpenAIAgents() : null;
const server = new MCPServerStdio({
  name: "test-server",
  command: process.execPath,
  args: [fileURLToPath(new URL("./mcp-server.mjs", import.meta.url))],
  env: Object.fromEntries(Object.entries(process.env).filter(([, v]) => typeof v === "string")),
  cacheToolsList: true,
});
await server.connect();
try {
  const agent = new Agent({ name: "test-agent", instructions: "Use the tools.", model: new ScriptedModel(), mcpServers: [server] });
  const runner = new Runner({ tracingDisabled: true });
  if (assay) assay.instrument(runner);
  const result = await runner.run(agent, "go", { maxTurns: 10 });
  process.stdout.write(`${JSON.stringify({ seen, finalOutput: result.finalOutput })}\n`);
} finally {
  await server.close();
}
