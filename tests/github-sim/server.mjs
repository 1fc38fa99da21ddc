// Test-only GitHub API simulator for assay-runner's integration tests.
//
// Starts @simulacrum/github-api-simulator (every REST request body is validated against
// GitHub's published OpenAPI description; a violation is answered 400) and adds:
//   GET /_assay/calls  -> every API request received: method, path, body, status
//   repositories named `read-only` answer 403 like GitHub does for a fork PR's token.
// Usage: node server.mjs [PORT]   (0 = any free port; the first stdout line names it)
import { simulation } from "@simulacrum/github-api-simulator";

const calls = [];
const app = simulation({
  extend: {
    extendRouter: (router) => {
      router.get("/_assay/calls", (_req, res) => res.json(calls));
      router.use((req, res, next) => {
        const call = { method: req.method, path: req.path, body: req.body ?? null, auth: Boolean(req.headers.authorization) };
        calls.push(call);
        res.on("finish", () => { call.status = res.statusCode; });
        if (/^\/repos\/[^/]+\/read-only\//.test(req.path)) {
          return res.status(403).json({
            message: "Resource not accessible by integration",
            documentation_url: "https://docs.github.com/rest/checks/runs#create-a-check-run",
          });
        }
        next();
      });
    },
  },
});
const { port } = await app.listen(Number(process.argv[2] ?? 0), "127.0.0.1");
console.log(`listening http://127.0.0.1:${port}`);
