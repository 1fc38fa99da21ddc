"""An openai-agents agent as the SDK's docs write one (Agent with mcp_servers, Runner.run), with a
scripted Model. ``--adapter`` adds assay-runner-sdk; ``--parallel`` makes the model ask for all
calls in one response. Prints a JSON transcript: what the model was sent, and the final output."""

import asyncio
import json
import os
import sys

from agents import Agent, Model, ModelResponse, Runner, Usage, set_tracing_disabled
from agents.mcp import MCPServerStdio
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage, ResponseOutputText

from assay_runner_sdk.openai_agents import assay_openai_agents

USE_ADAPTER = "--adapter" in sys.argv
PARALLEL = "--parallel" in sys.argv
CALLS = [
    ("call-echo-1", "echo", {"text": "a"}),
    ("call-refuse-2", "refuse", {"text": "b"}),
    ("call-echo-3", "echo", {"text": "c"}),
]
TURNS = [CALLS] if PARALLEL else [[c] for c in CALLS]
SEEN = []


def plain(value):
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(type(value))


class ScriptedModel(Model):
    async def get_response(self, system_instructions, input, model_settings, tools, output_schema, handoffs, tracing, **kwargs):
        items = input if isinstance(input, list) else []
        SEEN.append(json.loads(json.dumps({"input": items, "tools": sorted(t.name for t in tools)}, default=plain)))
        results = [i for i in items if isinstance(i, dict) and i.get("type") == "function_call_output"]
        done, turn = 0, 0
        while turn < len(TURNS) and done < len(results):
            done += len(TURNS[turn])
            turn += 1
        if turn < len(TURNS):
            output = [
                ResponseFunctionToolCall(
                    type="function_call", id=f"item-{cid}", call_id=cid, name=name, arguments=json.dumps(args), status="completed"
                )
                for cid, name, args in TURNS[turn]
            ]
        else:
            text = ";".join(f"{r['call_id']}={r['output']}" for r in results)
            output = [
                ResponseOutputMessage(
                    type="message",
                    id="item-final",
                    role="assistant",
                    status="completed",
                    content=[ResponseOutputText(type="output_text", text=text, annotations=[])],
                )
            ]
        return ModelResponse(output=output, usage=Usage(), response_id=None)

    def stream_response(self, *args, **kwargs):
        raise NotImplementedError("not scripted")


async def main():
    set_tracing_disabled(True)
    assay = assay_openai_agents() if USE_ADAPTER else None
    server_script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mcp_server.py")
    async with MCPServerStdio(
        name="test-server",
        params={"command": sys.executable, "args": [server_script], "env": dict(os.environ)},
        cache_tools_list=True,
    ) as server:
        agent = Agent(name="test-agent", instructions="Use the tools.", model=ScriptedModel(), mcp_servers=[server])
        result = await Runner.run(agent, "go", max_turns=10, hooks=assay.hooks() if assay else None)
    print(json.dumps({"seen": SEEN, "final_output": result.final_output}))


asyncio.run(main())
