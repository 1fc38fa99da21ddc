"""A stdio MCP server for the tests: newline-delimited JSON-RPC, by hand (no SDK), so that what
reaches it is exactly what the client sent. Every line read is appended to $TEST_MCP_LOG. Tools:
``echo`` answers its text; ``refuse`` answers an error result (isError), as mcp-wrap answers a
denied call."""

import json
import os
import sys

LOG = os.environ.get("TEST_MCP_LOG")
TOOLS = [
    {
        "name": name,
        "description": description,
        "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    }
    for name, description in (("echo", "Answer the text"), ("refuse", "Answer an error result"))
]


def reply(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


for line in sys.stdin:
    if not line.strip():
        continue
    if LOG:
        with open(LOG, "a", encoding="utf-8") as f:
            f.write(line if line.endswith("\n") else line + "\n")
    msg = json.loads(line)
    if "id" not in msg or "method" not in msg:
        continue  # notifications and responses
    method, params = msg["method"], msg.get("params") or {}
    if method == "initialize":
        result = {
            "protocolVersion": params.get("protocolVersion", "2025-06-18"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "adapter-test-server", "version": "1.0.0"},
        }
    elif method == "ping":
        result = {}
    elif method == "tools/list":
        result = {"tools": TOOLS}
    elif method == "tools/call":
        text = (params.get("arguments") or {}).get("text", "")
        if params.get("name") == "echo":
            result = {"content": [{"type": "text", "text": f"echo: {text}"}]}
        elif params.get("name") == "refuse":
            result = {"content": [{"type": "text", "text": f"refused: {text}"}], "isError": True}
        else:
            reply({"jsonrpc": "2.0", "id": msg["id"], "error": {"code": -32602, "message": "unknown tool"}})
            continue
    else:
        reply({"jsonrpc": "2.0", "id": msg["id"], "error": {"code": -32601, "message": f"Method not found: {method}"}})
        continue
    reply({"jsonrpc": "2.0", "id": msg["id"], "result": result})
