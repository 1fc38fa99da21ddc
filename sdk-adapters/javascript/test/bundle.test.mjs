// The runtimes' versions when the application is bundled (fixtures/sdk bundles its agents with
// esbuild, and a measured run has the bundle without node_modules).
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { installedPackage } from "@assay/runner-sdk";
import { assayRunnerSdk } from "@assay/runner-sdk/esbuild";
import { cleanEnv, tempDir } from "./support/records.mjs";

const APP = fileURLToPath(new URL("./support/bundled-app.mjs", import.meta.url));
const PACKAGE_DIR = fileURLToPath(new URL("..", import.meta.url));
const installed = (name) => JSON.parse(readFileSync(join(PACKAGE_DIR, "node_modules", name, "package.json"), "utf8")).version;

async function bundle(plugins) {
  const out = join(tempDir(), "app.mjs");
  await esbuild.build({
    entryPoints: [APP],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile: out,
    absWorkingDir: PACKAGE_DIR,
    logLevel: "silent",
    plugins,
  });
  // Run it where no node_modules can be found, as a measured run does.
  const lonely = join(tempDir(), "app.mjs");
  copyFileSync(out, lonely);
  return lonely;
}

test("unbundled: the version of the installed package the adapter resolves", () => {
  assert.deepEqual(installedPackage("@openai/agents"), { name: "@openai/agents", version: installed("@openai/agents") });
  assert.deepEqual(installedPackage("@google/genai"), { name: "@google/genai", version: installed("@google/genai") });
  assert.throws(() => installedPackage("@assay/no-such-runtime"), /not installed where @assay\/runner-sdk can import it/);
});

test("bundled with the plugin: the versions bundled, without reading anything at run time", async () => {
  const app = await bundle([assayRunnerSdk()]);
  const text = readFileSync(app, "utf8");
  assert.ok(!text.includes("import.meta.resolve"), "the run-time resolver is not in the bundle");
  const out = execFileSync(process.execPath, [app], { env: cleanEnv({ ASSAY_SDK_LOG: join(tempDir(), "sdk.ndjson") }) });
  assert.deepEqual(JSON.parse(out), {
    enabled: true,
    openai: { name: "@openai/agents", version: installed("@openai/agents") },
    genai: { name: "@google/genai", version: installed("@google/genai") },
  });
});

test("bundled without the plugin: an error when enabled, never a guess; nothing when disabled", async () => {
  const app = await bundle([]);
  const enabled = spawnSync(process.execPath, [app], { env: cleanEnv({ ASSAY_SDK_LOG: join(tempDir(), "sdk.ndjson") }), encoding: "utf8" });
  assert.notEqual(enabled.status, 0);
  assert.match(enabled.stderr, /bundled without its esbuild plugin/);
  const disabled = spawnSync(process.execPath, [app], { env: cleanEnv(), encoding: "utf8" });
  assert.equal(disabled.status, 0, disabled.stderr);
  assert.deepEqual(JSON.parse(disabled.stdout), { enabled: false, openai: null, genai: null });
});
