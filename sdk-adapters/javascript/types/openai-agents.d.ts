import type { SdkLog } from "./index.js";

export { TOOL_CALL_ID_META_KEY } from "./index.js";
export const SDK_PACKAGE: "@openai/agents";

type AnyResolver = (context: any) => unknown;

export class OpenAIAgentsAdapter {
  constructor(log: SdkLog);
  readonly enabled: boolean;
  readonly log: SdkLog;
  /** A toolMetaResolver adding the current call's id; disabled: `inner`. */
  toolMetaResolver<R extends AnyResolver | undefined>(inner?: R): R | AnyResolver;
  instrumentServer<S>(server: S): S;
  wrapTools<T extends unknown[]>(tools: T): T;
  instrumentAgent<A>(agent: A): A;
  instrumentRunner<R>(runner: R): R;
  instrument<R>(runner: R): R;
  instrument<R>(target: { runner?: R; agents?: unknown[]; mcpServers?: unknown[] }): R | undefined;
}

export function assayOpenAIAgents(options?: { env?: Record<string, string | undefined>; log?: SdkLog }): OpenAIAgentsAdapter;
