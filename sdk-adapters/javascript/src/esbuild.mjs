// esbuild plugin: when an application that uses @assay/runner-sdk is bundled, the runtimes'
// versions are taken from the packages the bundle is built from and written into the bundle
// (src/installed.mjs explains why). Usage:
//
//   import { assayRunnerSdk } from "@assay/runner-sdk/esbuild";
//   await esbuild.build({ entryPoints: ["agent.mjs"], bundle: true, plugins: [assayRunnerSdk()] });
//
// Each runtime is resolved as esbuild resolves a bare import of it from `resolveDir` (default:
// the build's working directory), then its package.json is read. A runtime that is not
// installed there is left out; asking the bundle for it is then an error.
import { packageAbove } from "./installed.mjs";

const SPECIFIER = /^#assay-runner-sdk\/installed$/;
const NAMESPACE = "assay-runner-sdk-installed";

/** The runtimes the adapters report. */
export const RUNTIMES = ["@openai/agents", "@google/genai"];

export function assayRunnerSdk({ runtimes = RUNTIMES, resolveDir } = {}) {
  return {
    name: "assay-runner-sdk",
    setup(build) {
      build.onResolve({ filter: SPECIFIER }, (args) => ({ path: args.path, namespace: NAMESPACE }));
      build.onLoad({ filter: /.*/, namespace: NAMESPACE }, async () => {
        const dir = resolveDir ?? build.initialOptions.absWorkingDir ?? process.cwd();
        const table = {};
        for (const name of runtimes) {
          const r = await build.resolve(name, { kind: "import-statement", resolveDir: dir });
          if (r.errors.length > 0 || !r.path) continue;
          const found = packageAbove(r.path, name);
          if (!found) throw new Error(`@assay/runner-sdk: no package.json naming ${name} with a version above ${r.path}`);
          table[name] = found;
        }
        const contents =
          `// The runtimes this bundle was built from (@assay/runner-sdk/esbuild).\n` +
          `const BUNDLED = ${JSON.stringify(table)};\n` +
          `export function installedPackage(name) {\n` +
          `  const found = BUNDLED[name];\n` +
          `  if (!found) throw new Error("@assay/runner-sdk: " + name + " was not installed when this bundle was built");\n` +
          `  return { name: found.name, version: found.version };\n` +
          `}\n`;
        return { contents, loader: "js", resolveDir: dir };
      });
    },
  };
}
