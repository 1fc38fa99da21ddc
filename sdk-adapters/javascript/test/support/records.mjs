// Test helpers: the sdk_event JSON Schema of the repository (schemas/), the coherence rules the
// runner applies to an SDK log (src/correlation/sdk.rs), and running the support agents.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Ajv2020 from "ajv/dist/2020.js";

export const SCHEMA_FILE = fileURLToPath(new URL("../../../../schemas/sdk_event.v0.schema.json", import.meta.url));
export const schema = JSON.parse(readFileSync(SCHEMA_FILE, "utf8"));

const ajv = new Ajv2020({ allErrors: true, strict: true });
// Formats the runner's schemas use (schemars): integer ranges.
ajv.addFormat("uint64", { type: "number", validate: (n) => Number.isInteger(n) && n >= 0 });
ajv.addFormat("uint32", { type: "number", validate: (n) => Number.isInteger(n) && n >= 0 && n <= 0xffffffff });
// The schema's $id (`urn:assay.runner.sdk_event.v0`) is a URN without a namespace id, which ajv's
// URI library refuses to serialize; every $ref in it is local, so it is compiled without the $id.
const { $id: _id, ...schemaWithoutId } = schema;
const validateRecord = ajv.compile(schemaWithoutId);

/** Throws with ajv's errors unless `record` is a valid sdk_event. */
export function assertValidRecord(record) {
  if (!validateRecord(record)) {
    throw new Error(`invalid sdk_event ${JSON.stringify(record)}: ${ajv.errorsText(validateRecord.errors)}`);
  }
}

/** The records of an NDJSON log, each checked against the schema. */
export function readRecords(path) {
  const text = readFileSync(path, "utf8");
  if (text !== "" && !text.endsWith("\n")) throw new Error(`${path} does not end with a newline`);
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((line) => {
      const r = JSON.parse(line);
      assertValidRecord(r);
      return r;
    });
}

/** The runner's acceptance rules for one log's story; returns the problems found. */
export function storyProblems(records) {
  const problems = [];
  records.forEach((r, i) => {
    if (r.seq !== i) problems.push(`record ${i} has seq ${r.seq}`);
  });
  if (records.length === 0) return ["no records"];
  if (records[0].event_type !== "run_started") problems.push("first is not run_started");
  if (records.at(-1).event_type !== "run_finished") problems.push("last is not run_finished");
  if (records.some((r) => JSON.stringify(r.sdk) !== JSON.stringify(records[0].sdk))) problems.push("several SDKs");
  if (records.some((r) => r.run_id !== records[0].run_id)) problems.push("several run ids");
  const open = new Map();
  for (const r of records) {
    const isCall = r.event_type === "tool_call_started" || r.event_type === "tool_call_finished";
    if (isCall !== (r.tool_call_id != null && r.tool != null)) problems.push(`seq ${r.seq}: tool_call_id/tool`);
    if ((r.event_type === "tool_call_finished") !== (r.outcome != null)) problems.push(`seq ${r.seq}: outcome`);
    if (r.event_type === "tool_call_started") open.set(r.tool_call_id, (open.get(r.tool_call_id) ?? 0) + 1);
    if (r.event_type === "tool_call_finished") {
      if (!open.get(r.tool_call_id)) problems.push(`seq ${r.seq}: ${r.tool_call_id} finished without starting`);
      else open.set(r.tool_call_id, open.get(r.tool_call_id) - 1);
    }
  }
  for (const [id, n] of open) if (n > 0) problems.push(`${id} never finished`);
  return problems;
}

const made = [];
process.on("exit", () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A temp dir, removed when the test process exits. */
export function tempDir(prefix = "assay-sdk-test-") {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** Environment without the runner's variables, plus `extra`. */
export function cleanEnv(extra = {}) {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("ASSAY_")) delete env[k];
  return { ...env, ...extra };
}

/** Runs a support agent; resolves { code, stdout, stderr }. */
export function runAgent(name, args, env) {
  const script = fileURLToPath(new URL(`./${name}`, import.meta.url));
  return new Promise((resolve) => {
    execFile(process.execPath, [script, ...args], { env, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** The MCP messages a test server logged (TEST_MCP_LOG), parsed. */
export function mcpMessages(path) {
  let text = "";
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if (error.code !== "ENOENT") throw error;
  }
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l));
}
