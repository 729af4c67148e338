// Build: compile TypeScript to dist/ and copy the non-TS assets (Lua scripts, static web files)
// that the compiled code loads at run time relative to its own location.
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

const assetExt = [".lua", ".html", ".css", ".md", ".js.txt"];
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
