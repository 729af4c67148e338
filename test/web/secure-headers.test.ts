/**
 * The real HTTP app's security headers (Hono secureHeaders) do not break the page: served by
 * createHttpApp + mountWebRoutes over startHttpServer, the page keeps its own Content-Security-Policy,
 * its script runs and talks to /api in headless Chromium without a single policy violation.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { chromium, type Browser } from "playwright-core";
import { createHttpApp } from "../../src/channels/http/app.js";
import { startHttpServer, type RunningHttpServer } from "../../src/channels/http/server.js";
import { mountWebRoutes, WEB_CONTENT_SECURITY_POLICY } from "../../src/web/assets.js";
import { requireTool, skipWithout } from "../helpers/tools.js";

const TOKEN = "secure-headers-token-0123456789";

describe("the page behind the HTTP app's security headers", { skip: skipWithout("chromium") }, () => {
  let browser: Browser;
  let server: RunningHttpServer;

  before(async () => {
    const app = createHttpApp({ token: TOKEN, status: async () => ({}) });
    mountWebRoutes(app);
    server = await startHttpServer({ app, port: 0 });
    browser = await chromium.launch({
      executablePath: requireTool("chromium"),
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"],
    });
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test("the page keeps its own policy and gets the other headers", async () => {
    const page = await fetch(`${server.url}/`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get("content-security-policy"), WEB_CONTENT_SECURITY_POLICY);
    assert.equal(page.headers.get("x-frame-options"), "DENY");
    assert.equal(page.headers.get("cross-origin-opener-policy"), "same-origin");
    const api = await fetch(`${server.url}/api/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(api.headers.get("content-security-policy"), "default-src 'none'; frame-ancestors 'none'");
  });

  test("in Chromium the script runs, calls the API and reports a wrong token, with no policy violation", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    page.on("pageerror", (e) => errors.push(String(e)));
    const refused: string[] = [];
    page.on("requestfailed", (r) => refused.push(`${r.url()}: ${r.failure()?.errorText}`));
    await page.goto(`${server.url}/#token=wrong`);
    await page.waitForSelector('#conn[data-state="unauthorized"]');
    assert.deepEqual(
      errors.filter((e) => /Content Security Policy|Refused to|blocked/i.test(e)),
      [],
      errors.join("\n"),
    );
    assert.deepEqual(
      refused.filter((r) => /BLOCKED/i.test(r)),
      [],
    );
    const sheets = await page.evaluate(() => (globalThis as unknown as { document: { styleSheets: { length: number } } }).document.styleSheets.length);
    assert.ok(sheets > 0, "the stylesheet loaded");
    await context.close();
  });
});
