"""A google-genai agent with MCP tools, in the SDK's manual function-calling loop (its automatic
calling over an MCP session cannot run with mcp 2.x), against a scripted fake of the Gemini API
on a loopback port. ``--adapter`` adds assay-runner-sdk; ``--parallel`` makes the model ask for
all calls in one response; ``--no-ids`` makes it send function calls without ids. Prints a JSON
transcript: the request bodies the fake received, and the final text."""

import asyncio
import contextlib
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google import genai
from google.genai import types
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from assay_runner_sdk.genai import assay_genai

USE_ADAPTER = "--adapter" in sys.argv
PARALLEL = "--parallel" in sys.argv
NO_IDS = "--no-ids" in sys.argv
MODEL = "gemini-scripted"
CALLS = [
    ("gm-echo-1", "echo", {"text": "a"}),
    ("gm-refuse-2", "refuse", {"text": "b"}),
    ("gm-echo-3", "echo", {"text": "c"}),
]
TURNS = [CALLS] if PARALLEL else [[c] for c in CALLS]
SEEN = []


def answer(request):
    SEEN.append(request)
    parts = [p for c in request.get("contents", []) for p in c.get("parts", [])]
    responses = [p["functionResponse"] for p in parts if "functionResponse" in p]
    done, turn = 0, 0
    while turn < len(TURNS) and done < len(responses):
        done += len(TURNS[turn])
        turn += 1
    if turn < len(TURNS):
        out = [
            {"functionCall": ({"name": n, "args": a} if NO_IDS else {"id": i, "name": n, "args": a})}
            for i, n, a in TURNS[turn]
        ]
    else:
        out = [{"text": ";".join(f"{r.get('id', '-')}:{r['name']}" for r in responses)}]
    return {"candidates": [{"content": {"role": "model", "parts": out}, "finishReason": "STOP", "index": 0}]}


class Fake(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        data = json.dumps(answer(json.loads(body))).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


async def plain_call_tool(session, call):
    """What the loop does without the adapter: the call and the answer, as the SDK makes them."""
    try:
        result = await session.call_tool(name=call.name, arguments=dict(call.args or {}))
        response = {"error": result} if result.is_error else {"result": result}
    except Exception as e:
        response = {"error": str(e)}
    return types.Part.from_function_response(name=call.name, response=response)


async def main():
    fake = ThreadingHTTPServer(("127.0.0.1", 0), Fake)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    assay = assay_genai() if USE_ADAPTER else None
    client = genai.Client(
        api_key="dummy", http_options=types.HttpOptions(base_url=f"http://127.0.0.1:{fake.server_address[1]}")
    )
    server_script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mcp_server.py")
    params = StdioServerParameters(command=sys.executable, args=[server_script], env=dict(os.environ))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            config = types.GenerateContentConfig(tools=(await session.list_tools()).tools)
            contents = [types.Content(role="user", parts=[types.Part(text="go")])]
            async with assay.run() if assay else contextlib.nullcontext():
                for _ in range(10):
                    response = await client.aio.models.generate_content(model=MODEL, contents=contents, config=config)
                    if not response.function_calls:
                        break
                    contents.append(response.candidates[0].content)
                    call = assay.call_tool if assay else plain_call_tool
                    parts = [await call(session, fc) for fc in response.function_calls]
                    contents.append(types.Content(role="user", parts=parts))
    fake.shutdown()
    print(json.dumps({"seen": SEEN, "text": response.text}))


asyncio.run(main())
