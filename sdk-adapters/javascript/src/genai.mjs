// @google/genai (2.32): MCP tools whose calls keep the model's `functionCall.id`.
//
//   import { GoogleGenAI, mcpToTool } from "@google/genai";
//   const assay = assayGenAI();
//   const response = await assay.run(() =>
//     ai.models.generateContent({ model, contents, config: { tools: [assay.mcpToTool(mcpToTool, client)] } }));
//
// The SDK's `mcpToTool` makes a CallableTool for automatic function calling, but it drops the
// function call's id: the MCP request carries none and the `functionResponse` has none. The
// CallableTool returned here is the SDK's own (same declarations, same MCP requests, same
// response shape), driven one function call at a time, in order, as the SDK does: each call runs
// in a scope holding its id, the MCP client's `callTool` adds the id to `params._meta`, and the
// `functionResponse` gets `id` back. Each call is recorded (`tool_call_started`, then
// `tool_call_finished` with `error` for an `isError` result or a failed call); `run()` brackets
// the run with `run_started` and `run_finished`.
//
// A function call without an id is recorded without one and reaches MCP without one: the runner
// then reports the SDK layer as partial instead of guessing which call was which.
//
// With $ASSAY_SDK_LOG unset, `mcpToTool` returns the SDK's own tool over the clients given and
// `run` just calls its function.
import { AsyncLocalStorage } from "node:async_hooks";
import { installedPackage } from "#assay-runner-sdk/installed";
import { SdkLog, TOOL_CALL_ID_META_KEY, callIdOrNull, withToolCallId } from "./log.mjs";

export { TOOL_CALL_ID_META_KEY };

/** The npm package whose version the records name. */
export const SDK_PACKAGE = "@google/genai";

export class GenAIAdapter {
  #log;
  #scope = new AsyncLocalStorage();

  constructor(log) {
    this.#log = log;
  }

  get enabled() {
    return this.#log.enabled;
  }

  get log() {
    return this.#log;
  }

  runStarted() {
    this.#log.runStarted();
  }

  runFinished() {
    this.#log.runFinished();
  }

  /** `run_started`, `await fn()`, `run_finished` (not when fn throws: the run did not finish). */
  async run(fn) {
    this.#log.runStarted();
    const result = await fn();
    this.#log.runFinished();
    return result;
  }

  /**
   * An MCP client whose `callTool` adds the current call's id to `params._meta` and reports the
   * result's `isError` to the current call. Outside a call it is the client unchanged.
   */
  mcpClient(client) {
    if (!this.enabled) return client;
    const scope = this.#scope;
    return new Proxy(client, {
      get(target, prop) {
        if (prop === "callTool") {
          return async function callTool(params, ...rest) {
            const call = scope.getStore();
            if (!call) return target.callTool(params, ...rest);
            const sent = call.id === null ? params : { ...params, _meta: withToolCallId(params?._meta, call.id) };
            let result;
            try {
              result = await target.callTool(sent, ...rest);
            } catch (error) {
              call.isError = true;
              throw error;
            }
            call.isError = result?.isError === true;
            return result;
          };
        }
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  }

  /**
   * The SDK's CallableTool for MCP clients, keeping call ids. `mcpToTool` is the SDK's function
   * (`import { mcpToTool } from "@google/genai"`); the rest are its arguments: clients, then an
   * optional config.
   */
  mcpToTool(mcpToTool, ...clientsAndConfig) {
    if (typeof mcpToTool !== "function") {
      throw new TypeError('@assay/runner-sdk: pass the SDK\'s mcpToTool: assay.mcpToTool(mcpToTool, client)');
    }
    if (!this.enabled) return mcpToTool(...clientsAndConfig);
    const last = clientsAndConfig[clientsAndConfig.length - 1];
    const hasConfig = clientsAndConfig.length > 0 && typeof last?.listTools !== "function";
    const clients = hasConfig ? clientsAndConfig.slice(0, -1) : clientsAndConfig;
    const inner = mcpToTool(...clients.map((c) => this.mcpClient(c)), ...(hasConfig ? [last] : []));
    return this.callableTool(inner);
  }

  /**
   * Drives a CallableTool made over `mcpClient(...)` clients one function call at a time, each
   * in its id's scope, recording it; `functionResponse.id` is set to the call's id.
   */
  callableTool(inner) {
    if (!this.enabled) return inner;
    const log = this.#log;
    const scope = this.#scope;
    let declared = null;
    const declaredNames = async () => {
      if (!declared) {
        const tool = await inner.tool();
        declared = new Set((tool?.functionDeclarations ?? []).map((d) => d.name));
      }
      return declared;
    };
    return {
      tool: () => inner.tool(),
      async callTool(functionCalls) {
        const names = await declaredNames();
        const parts = [];
        for (const functionCall of functionCalls) {
          // The SDK's tool answers only its own functions; so does this one.
          if (!names.has(functionCall?.name)) continue;
          const id = callIdOrNull(functionCall.id);
          log.toolCallStarted(id, functionCall.name);
          const call = { id, isError: null };
          let answered;
          try {
            answered = await scope.run(call, () => inner.callTool([functionCall]));
          } catch (error) {
            log.toolCallFinished(id, functionCall.name, "error");
            throw error;
          }
          log.toolCallFinished(id, functionCall.name, call.isError === false ? "ok" : "error");
          for (const part of answered) {
            if (id !== null && part?.functionResponse) part.functionResponse.id = id;
            parts.push(part);
          }
        }
        return parts;
      },
    };
  }
}

/**
 * The adapter for `@google/genai`. Records go to `$ASSAY_SDK_LOG` (`env`, default
 * `process.env`); unset: disabled, nothing changes. `log` replaces the SdkLog (tests).
 */
export function assayGenAI({ env = process.env, log } = {}) {
  return new GenAIAdapter(log ?? SdkLog.fromEnv({ env, sdk: () => installedPackage(SDK_PACKAGE) }));
}
