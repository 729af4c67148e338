/**
 * The daemon's web page: index.html and style.css next to this module (src/web in development,
 * dist/web once built; scripts/build.mjs copies them) and the browser app, bundled by esbuild from
 * src/web/app into dist/web/app.js and served as /app.js. Running from the sources (tests, tsx)
 * there is no app.js next to this module: the app is bundled then, once, by scripts/bundle-web.mjs.
 *
 * Mounting (the HTTP app): `mountWebRoutes(app)` on a Hono app, or `serveWebAsset(path)` from any
 * handler. Routes: `/` and `/index.html` (page), `/app.js`, `/style.css`. The page itself needs no
 * token; it reads one from its URL and uses it for `/api/*` (Bearer header) and `/ws?token=`.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Env, Hono, Schema } from "hono";

export interface WebAsset {
  body: Buffer;
  /** Content-Type, with charset. */
  type: string;
}

/** The built app next to this module, or (running from the sources) the app bundled now. */
function appBundle(): Buffer {
  const built = new URL("./app.js", import.meta.url);
  if (existsSync(built)) return readFileSync(built);
  const bundler = new URL("../../scripts/bundle-web.mjs", import.meta.url);
  if (!existsSync(bundler)) throw new Error(`the web app is not built: ${fileURLToPath(built)} is missing (npm run build)`);
  return execFileSync(process.execPath, [fileURLToPath(bundler)], { maxBuffer: 16 * 1024 * 1024 });
}

/** The file next to this module. */
const besideThisModule = (file: string) => (): Buffer => readFileSync(new URL(`./${file}`, import.meta.url));

/** Request path -> how to read its body, and its content type. */
const FILES: ReadonlyArray<{ paths: string[]; read: () => Buffer; type: string }> = [
  { paths: ["/", "/index.html"], read: besideThisModule("index.html"), type: "text/html; charset=utf-8" },
  { paths: ["/app.js"], read: appBundle, type: "text/javascript; charset=utf-8" },
  { paths: ["/style.css"], read: besideThisModule("style.css"), type: "text/css; charset=utf-8" },
];

/** The request paths served (for mounting routes one by one). */
export const WEB_ASSET_PATHS: readonly string[] = FILES.flatMap((f) => f.paths);

/**
 * Strict policy: only this origin's script and style (no inline script, no eval), data: only for the
 * blank favicon, WebSocket back to the daemon, no framing, no plugins.
 */
export const WEB_CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self' ws: wss:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** Headers sent with every asset. */
export const WEB_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "Cache-Control": "no-store",
  "Content-Security-Policy": WEB_CONTENT_SECURITY_POLICY,
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
};

let cache: Map<string, WebAsset> | undefined;

/** The page's files by request path (read once, then cached). Throws if a file is missing. */
export function webAssets(): Map<string, WebAsset> {
  if (cache) return cache;
  const assets = new Map<string, WebAsset>();
  for (const { paths, read, type } of FILES) {
    const body = read();
    for (const path of paths) assets.set(path, { body, type });
  }
  cache = assets;
  return assets;
}

/** The response for a page path (`/`, `/index.html`, `/app.js`, `/style.css`), undefined for others. */
export function serveWebAsset(path: string, method = "GET"): Response | undefined {
  const asset = webAssets().get(path);
  if (!asset) return undefined;
  const headers = { ...WEB_SECURITY_HEADERS, "Content-Type": asset.type, "Content-Length": String(asset.body.length) };
  if (method === "HEAD") return new Response(null, { status: 200, headers });
  if (method !== "GET") return new Response("method not allowed\n", { status: 405, headers: { ...WEB_SECURITY_HEADERS, Allow: "GET, HEAD" } });
  return new Response(new Uint8Array(asset.body), { status: 200, headers });
}

/** Registers GET routes for the page on a Hono app (before or after the /api and /ws routes). */
export function mountWebRoutes<E extends Env, S extends Schema, B extends string>(app: Hono<E, S, B>): void {
  for (const path of WEB_ASSET_PATHS) {
    app.get(path, (c) => serveWebAsset(path, c.req.method) ?? c.notFound());
  }
}
