// Test-only MCP stdio server with no dependencies: logs every line it receives to the file in
// $MCP_FIXTURE_LOG (when set), so tests can prove what reached it. Tools:
//   echo      -> text content = JSON of the arguments
//   fail      -> result with isError: true
//   rpcerror  -> JSON-RPC error
//   crash     -> exits with status 3 without answering
//   noise     -> prints a non-JSON line on stdout, then answers
//   big       -> answers with arguments.bytes bytes of text
//   slow      -> answers after arguments.ms milliseconds
//   ask       -> sends the client a request (sampling/createMessage) with the SAME id as the
//                call, answers the call with what the client replied
// Any other request: JSON-RPC error -32601. On stdin EOF: exits with $MCP_FIXTURE_EXIT (0),
// or with $MCP_FIXTURE_LINGER set keeps running (until a signal).
import { appendFileSync } from "node:fs";
import { createInterface } from "node:readline";

const log = process.env.MCP_FIXTURE_LOG;
const send = (m) => process.stdout.write(JSON.stringify(m) + "\n");
const waiting = new Map();
const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on("line", (line) => {
  if (log) appendFileSync(log, line + "\n");
  let m;
  try { m = JSON.parse(line); } catch { return send({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "parse error" } }); }
  if (m.method === undefined && m.id !== undefined && waiting.has(JSON.stringify(m.id))) {
    const callId = waiting.get(JSON.stringify(m.id));
    waiting.delete(JSON.stringify(m.id));
    return send({ jsonrpc: "2.0", id: callId, result: { content: [{ type: "text", text: JSON.stringify(m.result) }] } });
  }
  if (m.id === undefined) return;
  const ok = (result) => send({ jsonrpc: "2.0", id: m.id, result });
  switch (m.method) {
    case "initialize":
      return ok({ protocolVersion: "2025-06-18", capabilities: { tools: {} }, serverInfo: { name: "fixture", version: "0" } });
    case "tools/list":
      return ok({ tools: ["echo", "fail", "rpcerror", "crash", "noise", "big", "slow", "ask"].map((name) => ({ name, inputSchema: { type: "object" } })) });
    case "tools/call": {
      const a = m.params?.arguments ?? {};
      switch (m.params?.name) {
        case "echo": return ok({ content: [{ type: "text", text: JSON.stringify(a) }] });
        case "fail": return ok({ content: [{ type: "text", text: "it failed" }], isError: true });
        case "rpcerror": return send({ jsonrpc: "2.0", id: m.id, error: { code: -32000, message: "boom" } });
        case "crash": return process.exit(3);
        case "noise": process.stdout.write("this is not JSON\n"); return ok({ content: [{ type: "text", text: "after noise" }] });
        case "big": return ok({ content: [{ type: "text", text: "x".repeat(a.bytes ?? 0) }] });
        case "slow": return setTimeout(() => ok({ content: [{ type: "text", text: "slow" }] }), a.ms ?? 100);
        case "ask":
          waiting.set(JSON.stringify(m.id), m.id);
          return send({ jsonrpc: "2.0", id: m.id, method: "sampling/createMessage", params: { messages: [], maxTokens: 1 } });
        default: return send({ jsonrpc: "2.0", id: m.id, error: { code: -32602, message: "unknown tool" } });
      }
    }
    default:
      return send({ jsonrpc: "2.0", id: m.id, error: { code: -32601, message: "method not found" } });
  }
});
rl.on("close", () => {
  if (process.env.MCP_FIXTURE_LINGER) setInterval(() => {}, 1000);
  else process.exit(Number(process.env.MCP_FIXTURE_EXIT ?? 0));
});
