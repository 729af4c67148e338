// Bundles the CLI (dist/cli/main.js and everything of ours it imports, with ioredis, zod and
// commander) with esbuild into dist/bin/: a `pi-gateway push` from a cron job or an Inngest step
// then reads a handful of files instead of ~300 modules, which halves its start-up (issue #16:
// the process against `node -e 0`). Commands load lazily, so each is its own chunk. Other packages
// stay external: pi, grammY, hono, pino (its transports run in worker threads that load files by
// path) and the rest load from node_modules as they would unbundled, and only in the commands that
// need them. The unbundled dist/cli/main.js keeps working (service files written by older setups).
//
// A few modules read files next to themselves (the Lua scripts, the web page); the chunks live in
// dist/bin, so those files are copied there too.
import { build } from "esbuild";
import { chmodSync, cpSync, mkdirSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

/** Packages bundled into the CLI: the ones `push` and the other bus commands load at start. */
const BUNDLED = new Set(["ioredis", "zod", "commander"]);

export async function bundleCli(root) {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const packages = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies, ...pkg.peerDependencies, ...pkg.optionalDependencies });
  const external = packages.filter((name) => !BUNDLED.has(name)).flatMap((name) => [name, `${name}/*`]);
  const outdir = join(root, "dist", "bin");
  await build({
    entryPoints: { "pi-gateway": join(root, "dist", "cli", "main.js") },
    outdir,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    external,
    // Whitespace and syntax only: names stay readable in stack traces.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: "none",
    // ioredis is CommonJS: its require() of node built-ins needs a real require in an ES module.
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    logLevel: "warning",
  });
  chmodSync(join(outdir, "pi-gateway.js"), 0o755);
  const dist = join(root, "dist");
  mkdirSync(join(outdir, "commands"), { recursive: true });
  for (const name of readdirSync(join(dist, "bus", "commands"))) {
    if (name.endsWith(".lua")) cpSync(join(dist, "bus", "commands", name), join(outdir, "commands", name));
  }
  for (const name of ["index.html", "style.css", "app.js"]) cpSync(join(dist, "web", name), join(outdir, name));
}
