// @openai/agents (0.20): each MCP tool call carries the model's call id to the MCP server as
// `params._meta["assay.dev/tool_call_id"]`, and the run is recorded in $ASSAY_SDK_LOG.
//
//   const assay = assayOpenAIAgents();
//   const runner = assay.instrument(new Runner());       // every agent it runs, and their MCP servers
//   const result = await runner.run(agent, input);
//
// How the id reaches `_meta`: an MCP server's `toolMetaResolver` is what the SDK sends as a
// call's `_meta`, but it is told the run context, server, tool and arguments, not which tool call
// it resolves for. The call id is known to the function tool's `invoke(runContext, input,
// details)` as `details.toolCall.callId`, so each MCP function tool's `invoke` runs inside an
// AsyncLocalStorage scope holding the id, and the resolver reads it there (a call outside a scope
// is an error, never a call without an id). Concurrent calls each have their own scope.
//
// Records: `run_started` at the runner's first `agent_start`, `tool_call_started` and
// `tool_call_finished` from its `agent_tool_start` and `agent_tool_end` events, `run_finished`
// at `agent_end` (the final output). A call's outcome is `error` when the MCP result had
// `isError` (a policy denial), the MCP call failed or the tool threw; the SDK hands the model
// only the content, so the server's `callToolResult` is wrapped to see the flag.
//
// With $ASSAY_SDK_LOG unset every function here returns what it was given, untouched.
import { AsyncLocalStorage } from "node:async_hooks";
import { installedPackage } from "#assay-runner-sdk/installed";
import { SdkLog, TOOL_CALL_ID_META_KEY, callIdOrNull, withToolCallId } from "./log.mjs";

export { TOOL_CALL_ID_META_KEY };

/** The npm package whose version the records name. */
export const SDK_PACKAGE = "@openai/agents";

const INSTRUMENTED = Symbol.for("@assay/runner-sdk.instrumented");

export class OpenAIAgentsAdapter {
  #log;
  #scope = new AsyncLocalStorage();
  /** call id -> { mcp, isError, threw } while the call runs */
  #calls = new Map();
  #started = false;

  constructor(log) {
    this.#log = log;
  }

  /** Whether records are written and ids passed on. */
  get enabled() {
    return this.#log.enabled;
  }

  /** The underlying SdkLog. */
  get log() {
    return this.#log;
  }

  /**
   * A `toolMetaResolver` for an MCP server: the current tool call's id under
   * TOOL_CALL_ID_META_KEY, merged over what `inner` (the application's own resolver) returns.
   * Disabled: `inner` itself.
   */
  toolMetaResolver(inner) {
    if (!this.enabled) return inner;
    if (inner?.[INSTRUMENTED]) return inner;
    const scope = this.#scope;
    const resolver = async (context) => {
      const call = scope.getStore();
      if (!call) {
        throw new Error(
          `@assay/runner-sdk: MCP call to ${context?.toolName} outside an instrumented tool call ` +
            "(instrument the Runner, the agent or the tools: the call id would be lost)",
        );
      }
      const base = inner ? await inner(context) : undefined;
      if (base != null && (typeof base !== "object" || Array.isArray(base))) {
        throw new TypeError("MCP tool meta resolver must return an object or null.");
      }
      return withToolCallId(base, call.callId);
    };
    resolver[INSTRUMENTED] = true;
    return resolver;
  }

  /** Sets the server's resolver (composed with its own) and watches its results' `isError`. */
  instrumentServer(server) {
    if (!this.enabled || server[INSTRUMENTED]) return server;
    server.toolMetaResolver = this.toolMetaResolver(server.toolMetaResolver);
    const original = server.callToolResult;
    if (typeof original === "function") {
      const calls = this.#calls;
      server.callToolResult = async function callToolResult(toolName, args, meta, ...rest) {
        const state = calls.get(callIdOrNull(meta?.[TOOL_CALL_ID_META_KEY]));
        if (state) state.mcp = true;
        let result;
        try {
          result = await original.call(this, toolName, args, meta, ...rest);
        } catch (error) {
          if (state) state.isError = true;
          throw error;
        }
        if (state) state.isError = result?.isError === true;
        return result;
      };
    }
    server[INSTRUMENTED] = true;
    return server;
  }

  /** Wraps function tools (in place) so that their MCP calls run in the scope of the call id. */
  wrapTools(tools) {
    if (!this.enabled) return tools;
    for (const tool of tools) this.#wrapTool(tool);
    return tools;
  }

  #wrapTool(tool) {
    if (tool?.type !== "function" || typeof tool.invoke !== "function" || tool.invoke[INSTRUMENTED]) return tool;
    const invoke = tool.invoke;
    const scope = this.#scope;
    const calls = this.#calls;
    const wrapped = function invokeWithCallId(runContext, input, details) {
      const callId = callIdOrNull(details?.toolCall?.callId);
      if (callId === null) return invoke.call(this, runContext, input, details);
      const state = calls.get(callId);
      return scope.run({ callId }, async () => {
        try {
          return await invoke.call(this, runContext, input, details);
        } catch (error) {
          if (state) state.threw = true;
          throw error;
        }
      });
    };
    wrapped[INSTRUMENTED] = true;
    tool.invoke = wrapped;
    return tool;
  }

  /** The agent's MCP servers are instrumented and the MCP tools it lists are wrapped. */
  instrumentAgent(agent) {
    if (!this.enabled || agent[INSTRUMENTED]) return agent;
    for (const server of agent.mcpServers ?? []) this.instrumentServer(server);
    const getMcpTools = agent.getMcpTools;
    const adapter = this;
    agent.getMcpTools = async function (...args) {
      for (const server of this.mcpServers ?? []) adapter.instrumentServer(server);
      return adapter.wrapTools(await getMcpTools.apply(this, args));
    };
    agent[INSTRUMENTED] = true;
    return agent;
  }

  /**
   * Records the runner's runs and instruments every agent it starts (and their MCP servers).
   * One run per $ASSAY_SDK_LOG.
   */
  instrumentRunner(runner) {
    if (!this.enabled || runner[INSTRUMENTED]) return runner;
    const log = this.#log;
    runner.on("agent_start", (_context, agent) => {
      this.instrumentAgent(agent);
      if (!this.#started) {
        this.#started = true;
        log.runStarted();
      }
    });
    runner.on("agent_tool_start", (_context, _agent, tool, details) => {
      const callId = callIdOrNull(details?.toolCall?.callId);
      if (callId !== null) this.#calls.set(callId, { mcp: false, isError: null, threw: false });
      log.toolCallStarted(callId, tool?.name);
    });
    runner.on("agent_tool_end", (_context, _agent, tool, _result, details) => {
      const callId = callIdOrNull(details?.toolCall?.callId);
      const state = callId === null ? undefined : this.#calls.get(callId);
      if (callId !== null) this.#calls.delete(callId);
      log.toolCallFinished(callId, tool?.name, outcomeOf(state));
    });
    runner.on("agent_end", () => {
      log.runFinished();
    });
    runner[INSTRUMENTED] = true;
    return runner;
  }

  /** `instrument(runner)` or `instrument({ runner, agents, mcpServers })`; returns the runner. */
  instrument(target) {
    if (typeof target?.on === "function" && typeof target?.run === "function") return this.instrumentRunner(target);
    const { runner, agents = [], mcpServers = [] } = target ?? {};
    for (const server of mcpServers) this.instrumentServer(server);
    for (const agent of agents) this.instrumentAgent(agent);
    return runner ? this.instrumentRunner(runner) : runner;
  }
}

/**
 * How a finished call ended: `error` for an MCP result with isError, a failed MCP call or a tool
 * that threw; `ok` otherwise. A local (non-MCP) tool whose error the SDK turned into a message
 * for the model reads as `ok`: the adapter cannot see it.
 */
function outcomeOf(state) {
  if (!state) return "ok";
  if (state.threw) return "error";
  if (state.mcp) return state.isError === false ? "ok" : "error";
  return "ok";
}

/**
 * The adapter for `@openai/agents`. Records go to `$ASSAY_SDK_LOG` (`env`, default
 * `process.env`); unset: disabled, nothing changes. `log` replaces the SdkLog (tests).
 */
export function assayOpenAIAgents({ env = process.env, log } = {}) {
  return new OpenAIAgentsAdapter(log ?? SdkLog.fromEnv({ env, sdk: () => installedPackage(SDK_PACKAGE) }));
}
