// Bundles the browser app (src/web/app/main.ts and what it imports, marked and DOMPurify included)
// with esbuild into one minified ES module. scripts/build.mjs writes it to dist/web/app.js; run
// directly, it prints the bundle on stdout, which is how src/web/assets.ts serves /app.js when the
// daemon runs from the sources (tests, tsx) and there is no built file next to it.
import { build } from "esbuild";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const root = new URL("..", import.meta.url).pathname;

/** @type {import("esbuild").BuildOptions} */
const options = {
  entryPoints: [join(root, "src", "web", "app", "main.ts")],
  bundle: true,
  format: "esm",
  platform: "browser",
  // Browsers of the last few years; the page also relies on CSS.escape, Array.prototype.findLast.
  target: ["chrome111", "edge111", "firefox115", "safari16.4"],
  minify: true,
  legalComments: "none",
  tsconfig: join(root, "tsconfig.web.json"),
  logLevel: "warning",
};

/** Writes the bundle to `outfile`. */
export async function bundleWebApp(outfile) {
  await build({ ...options, outfile });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await build({ ...options, write: false });
  process.stdout.write(result.outputFiles[0].contents);
}
