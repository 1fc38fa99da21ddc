// Test-only GitHub API simulator for assay-runner's integration tests.
//
// Starts @simulacrum/github-api-simulator (every REST request body is validated against
// GitHub's published OpenAPI description; a violation is answered 400) and adds:
//   GET /_assay/calls  -> every API request received: method, path, body, status
//   repositories named `read-only` answer 403 like GitHub does for a fork PR's token.
//   POST /_assay/reviews {"pull": N, "reviews": [...]}   -> GET /repos/:o/:r/pulls/N/reviews lists them
//   POST /_assay/permissions {"login": "permission", ...} -> GET .../collaborators/:u/permission
//   (unseeded: a PR has no reviews and a user has no access — never the OpenAPI examples)
//   GET /_assay/releases/download/:tag/:asset -> the file ASSAY_SIM_RELEASES/:tag/:asset (a
//   release server for the action's install step; 404 when absent), logged in /_assay/calls
// Usage: node server.mjs [PORT]   (0 = any free port; the first stdout line names it)
import { simulation } from "@simulacrum/github-api-simulator";
import { existsSync } from "node:fs";
import { join } from "node:path";

const calls = [];
const reviews = new Map(); // pull number -> review list
const permissions = new Map(); // login -> permission
const app = simulation({
  extend: {
    extendRouter: (router) => {
      router.get("/_assay/calls", (_req, res) => res.json(calls));
      router.post("/_assay/reviews", (req, res) => {
        reviews.set(Number(req.body.pull), req.body.reviews);
        res.json({ ok: true });
      });
      router.post("/_assay/permissions", (req, res) => {
        for (const [login, p] of Object.entries(req.body)) permissions.set(login.toLowerCase(), p);
        res.json({ ok: true });
      });
      router.use((req, res, next) => {
        const call = { method: req.method, path: req.path, body: req.body ?? null, auth: Boolean(req.headers.authorization) };
        calls.push(call);
        res.on("finish", () => { call.status = res.statusCode; });
        const rv = req.method === "GET" && req.path.match(/^\/repos\/[^/]+\/[^/]+\/pulls\/(\d+)\/reviews$/);
        if (rv) {
          return res.json(reviews.get(Number(rv[1])) ?? []);
        }
        const perm = req.method === "GET" && req.path.match(/^\/repos\/[^/]+\/[^/]+\/collaborators\/([^/]+)\/permission$/);
        if (perm) {
          const p = permissions.get(decodeURIComponent(perm[1]).toLowerCase()) ?? "none";
          return res.json({ permission: p === "maintain" ? "write" : p, role_name: p, user: { login: perm[1] } });
        }
        const rel = req.method === "GET" && req.path.match(/^\/_assay\/releases\/download\/([\w.+-]+)\/([\w.+-]+)$/);
        if (rel) {
          const file = process.env.ASSAY_SIM_RELEASES && !rel[1].startsWith(".") && !rel[2].startsWith(".")
            ? join(process.env.ASSAY_SIM_RELEASES, rel[1], rel[2])
            : null;
          if (!file || !existsSync(file)) return res.status(404).send("Not Found");
          return res.sendFile(file, { dotfiles: "allow" }); // tests live under .tmpXXXX
        }
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
