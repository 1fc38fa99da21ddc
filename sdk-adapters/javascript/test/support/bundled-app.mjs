// A minimal application for the bundling tests: the adapter's SDK version, as the records name it.
import { assayOpenAIAgents } from "@assay/runner-sdk/openai-agents";
import { assayGenAI } from "@assay/runner-sdk/genai";

const openai = assayOpenAIAgents();
const genai = assayGenAI();
process.stdout.write(`${JSON.stringify({ enabled: openai.enabled, openai: openai.log.sdk, genai: genai.log.sdk })}\n`);
