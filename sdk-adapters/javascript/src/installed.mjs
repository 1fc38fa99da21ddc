// Which version of a runtime is running: read from the installed package's package.json, found
// by resolving the package the way an `import` from this package resolves it (a peer dependency:
// the application's own copy).
//
// In a bundle this module is replaced by the esbuild plugin (src/esbuild.mjs) with the versions
// of the packages the bundle was built from: the bundle carries the runtime's code, so the
// version of that code is fixed when it is bundled, and nothing is read at run time. Bundled
// without the plugin, resolving at run time would read whatever package.json happens to lie
// near the bundle (or none), so that case is an error, never a guess.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = fileURLToPath(import.meta.url);
const UNBUNDLED = HERE.endsWith(`${sep}src${sep}installed.mjs`);

/** The package.json of `name` at or above `file`: `{ name, version }`, or null. */
export function packageAbove(file, name) {
  let dir = dirname(file);
  for (;;) {
    let json = null;
    try {
      json = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    } catch (error) {
      if (error?.code !== "ENOENT" && error?.code !== "ENOTDIR") throw error;
    }
    if (json?.name === name) {
      if (typeof json.version !== "string" || !json.version) return null;
      return { name: json.name, version: json.version };
    }
    const parent = dirname(dir);
    if (parent === dir || dir.endsWith(`${sep}node_modules`)) return null;
    dir = parent;
  }
}

function entryOf(name) {
  try {
    return fileURLToPath(import.meta.resolve(name));
  } catch (importError) {
    try {
      return createRequire(import.meta.url).resolve(name);
    } catch {
      throw importError;
    }
  }
}

/** `{ name, version }` of the installed package `name`. Throws when it cannot be told. */
export function installedPackage(name) {
  if (!UNBUNDLED) {
    throw new Error(
      `@assay/runner-sdk: bundled without its esbuild plugin (running from ${HERE}): the version of ${name} ` +
        'inside the bundle is unknown; add assayRunnerSdk() from "@assay/runner-sdk/esbuild" to the build\'s plugins',
    );
  }
  let entry;
  try {
    entry = entryOf(name);
  } catch (error) {
    throw new Error(`@assay/runner-sdk: ${name} is not installed where @assay/runner-sdk can import it: ${error.message}`, {
      cause: error,
    });
  }
  const found = packageAbove(entry, name);
  if (!found) throw new Error(`@assay/runner-sdk: no package.json naming ${name} with a version above ${entry}`);
  return found;
}
