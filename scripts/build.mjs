// Build: compile TypeScript to dist/, bundle the browser app into dist/web/app.js and copy the
// non-TS assets (Lua scripts, static web files) that the compiled code loads at run time relative
// to its own location.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
if (!existsSync(tsc)) {
  // Installed as a dependency without dev tools: dist/ is already shipped.
  process.exit(0);
}
rmSync(join(root, "dist"), { recursive: true, force: true });
execFileSync(process.execPath, [tsc, "-p", join(root, "tsconfig.json")], { stdio: "inherit" });

const assetExt = [".lua", ".html", ".css", ".md"];
function copyAssets(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) copyAssets(path);
    else if (assetExt.some((ext) => name.endsWith(ext))) {
      cpSync(path, join(root, "dist", relative(join(root, "src"), path)));
    }
  }
}
copyAssets(join(root, "src"));
// Imported only here: esbuild is a dev tool, absent where the exit above is taken.
const { bundleWebApp } = await import("./bundle-web.mjs");
await bundleWebApp(join(root, "dist", "web", "app.js"));
const { bundleCli } = await import("./bundle-cli.mjs");
await bundleCli(root);
