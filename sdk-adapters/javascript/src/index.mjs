// @assay/runner-sdk: agent runtimes under assay-runner (`run --mode sdk`, docs/sdk.md).
//   - "@assay/runner-sdk/openai-agents": assayOpenAIAgents() for @openai/agents
//   - "@assay/runner-sdk/genai":         assayGenAI() for @google/genai
//   - "@assay/runner-sdk/esbuild":       the plugin that records the runtimes' versions in a bundle
// and here the low-level writer of `assay.runner.sdk_event.v0` records.
export { SCHEMA, SdkLog, TOOL_CALL_ID_META_KEY, callIdOrNull, withToolCallId } from "./log.mjs";
export { installedPackage } from "#assay-runner-sdk/installed";
