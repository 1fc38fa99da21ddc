import type { SdkLog } from "./index.js";

export { TOOL_CALL_ID_META_KEY } from "./index.js";
export const SDK_PACKAGE: "@google/genai";

export interface CallableToolLike {
  tool(): Promise<any>;
  callTool(functionCalls: any[]): Promise<any[]>;
}

export class GenAIAdapter {
  constructor(log: SdkLog);
  readonly enabled: boolean;
  readonly log: SdkLog;
  runStarted(): void;
  runFinished(): void;
  /** run_started, `await fn()`, run_finished (not when fn throws). */
  run<T>(fn: () => Promise<T> | T): Promise<T>;
  mcpClient<C>(client: C): C;
  /** The SDK's `mcpToTool(...clientsAndConfig)`, keeping call ids; disabled: exactly the SDK's. */
  mcpToTool<T extends CallableToolLike>(mcpToTool: (...args: any[]) => T, ...clientsAndConfig: any[]): CallableToolLike;
  callableTool(inner: CallableToolLike): CallableToolLike;
}

export function assayGenAI(options?: { env?: Record<string, string | undefined>; log?: SdkLog }): GenAIAdapter;
