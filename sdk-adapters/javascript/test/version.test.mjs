// The package's version rule: its major version is the sdk_event contract version it writes
// (assay.runner.sdk_event.v0 -> 0.y.z).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { SCHEMA } from "@assay/runner-sdk";

test("major version = sdk_event contract version", () => {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
  const contract = Number(/\.v(\d+)$/.exec(SCHEMA)[1]);
  assert.equal(Number(pkg.version.split(".")[0]), contract, `${pkg.version} vs ${SCHEMA}`);
});
