/** The record schema this package writes; its version is the package's major version. */
export const SCHEMA: "assay.runner.sdk_event.v0";
/** The `_meta` key that carries a tool call's id to the MCP server. */
export const TOOL_CALL_ID_META_KEY: "assay.dev/tool_call_id";

export interface SdkInfo {
  name: string;
  version: string;
}
export type ToolOutcome = "ok" | "error";

/** Writer of one run's `assay.runner.sdk_event.v0` records (disabled when $ASSAY_SDK_LOG is unset). */
export class SdkLog {
  static fromEnv(options: { sdk: SdkInfo | (() => SdkInfo); env?: Record<string, string | undefined> }): SdkLog;
  static disabled(): SdkLog;
  constructor(path: string | null, options?: { sdk?: SdkInfo | (() => SdkInfo); runId?: string });
  readonly enabled: boolean;
  readonly path: string | null;
  readonly sdk: SdkInfo | null;
  readonly seq: number;
  runStarted(): void;
  /** `toolCallId` null or empty: recorded without an id. */
  toolCallStarted(toolCallId: string | null | undefined, tool: string): void;
  toolCallFinished(toolCallId: string | null | undefined, tool: string, outcome: ToolOutcome): void;
  runFinished(): void;
  close(): void;
}

export function withToolCallId(meta: Record<string, unknown> | undefined | null, toolCallId: string): Record<string, unknown>;
export function callIdOrNull(id: unknown): string | null;
/** `{ name, version }` of the installed (or, in a bundle built with the plugin, bundled) runtime. */
export function installedPackage(name: string): SdkInfo;
