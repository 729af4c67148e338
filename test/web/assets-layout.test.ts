/**
 * Where /app.js comes from (src/web/assets.ts): the built bundle next to the module (dist/web, as
 * shipped in the package, without dev tools or scripts/), else bundled from src/web/app by
 * scripts/bundle-web.mjs; neither there: a clear error naming the missing file.
 */
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";

const webDir = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "src", "web");
const scratch = mkdtempSync(join(tmpdir(), "pi-gateway-assets-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** A copy of assets.ts with the page's static files in <scratch>/<name>/dist/web (no scripts/ two levels up). */
async function installedCopy(name: string, appJs?: string): Promise<typeof import("../../src/web/assets.js")> {
  const dir = join(scratch, name, "dist", "web");
  mkdirSync(dir, { recursive: true });
  for (const file of ["assets.ts", "index.html", "style.css"]) copyFileSync(join(webDir, file), join(dir, file));
  if (appJs !== undefined) writeFileSync(join(dir, "app.js"), appJs);
  return (await import(pathToFileURL(join(dir, "assets.ts")).href)) as typeof import("../../src/web/assets.js");
}

describe("web assets: where the app bundle comes from", () => {
  test("installed: the built app.js next to the module is served as it is", async () => {
    const built = 'console.log("the built bundle");\n';
    const assets = await installedCopy("built", built);
    const response = assets.serveWebAsset("/app.js");
    assert.equal(response?.status, 200);
    assert.equal(await response?.text(), built);
    assert.equal(response?.headers.get("content-length"), String(Buffer.byteLength(built)));
  });

  test("neither a built app.js nor the bundler: a clear error naming the missing file", async () => {
    const assets = await installedCopy("unbuilt");
    assert.throws(() => assets.webAssets(), /the web app is not built: .*dist\/web\/app\.js is missing \(npm run build\)/);
  });

  test("from the sources: the app is bundled from src/web/app", async () => {
    const assets = await import("../../src/web/assets.js");
    const js = (await assets.serveWebAsset("/app.js")?.text()) ?? "";
    assert.match(js, /pi-gateway\.token/, "the bundle holds the app's own code");
  });
});
