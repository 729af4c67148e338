/**
 * The web page's Telegram pairing panel in headless Chromium, against the real HTTP app (pairing API,
 * web assets) over a private Redis: a waiting request shows with its code; Approve pairs the user in
 * Redis; Revoke removes them; a refusal (a code that expired meanwhile) is shown in the panel.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { chromium, type Browser } from "playwright-core";
import type { GatewayBus } from "../../src/bus/bus.js";
import { createHttpApp } from "../../src/channels/http/app.js";
import { startHttpServer, type RunningHttpServer } from "../../src/channels/http/server.js";
import { mountWebRoutes } from "../../src/web/assets.js";
import { useRedisBus } from "../helpers/redis-bus.js";
import { requireTool, skipWithout } from "../helpers/tools.js";
import { waitFor } from "../helpers/wait.js";

const TOKEN = "pairing-panel-token-0123456789abcdef";
const LIMITS = { ttlMs: 3_600_000, maxPending: 20 };
let bus: GatewayBus;
useRedisBus({ flushEach: true }, (_r, b) => {
  bus = b;
});

describe("pairing panel in headless Chromium", { skip: skipWithout("chromium") }, () => {
  let browser: Browser;
  let server: RunningHttpServer;

  before(async () => {
    const app = createHttpApp({ bus, token: TOKEN });
    mountWebRoutes(app);
    server = await startHttpServer({ app, port: 0, token: TOKEN });
    browser = await chromium.launch({
      executablePath: requireTool("chromium"),
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"],
    });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test("a waiting request is approved from the page, then revoked; a refused approval is shown", async () => {
    const asked = await bus.pairing.request({ userId: "31337", username: "mallory_or_friend", name: "<b>Friend</b>" }, LIMITS);
    assert.equal(asked.status, "issued");
    const code = asked.status === "issued" ? asked.code : "";
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    // No WebSocket server here: only errors other than the chat's connection attempts count.
    page.on("console", (m) => m.type() === "error" && !/WebSocket|\/ws/.test(m.text()) && errors.push(m.text()));
    try {
      await page.goto(`${server.url}/#token=${TOKEN}`);
      const row = page.locator(`#pairing-requests tr[data-code="${code}"]`);
      await row.waitFor({ timeout: 10_000 });
      assert.match(await row.innerText(), /@mallory_or_friend <b>Friend<\/b>/, "names are text, not markup");
      await page.getByTestId(`approve-${code}`).click();
      await waitFor(() => bus.pairing.isApproved(31337), "the approval in Redis");
      await page.locator("#pairing-note", { hasText: "Paired @mallory_or_friend" }).waitFor({ timeout: 10_000 });
      await page.locator("#pairing-approved", { hasText: "31337" }).waitFor({ timeout: 10_000 });
      assert.equal(await page.locator("#pairing-requests").innerText(), "no pairing requests");

      await page.getByTestId("revoke-31337").click();
      await waitFor(async () => !(await bus.pairing.isApproved(31337)), "the revocation in Redis");
      await page.locator("#pairing-approved", { hasText: "no paired users" }).waitFor({ timeout: 10_000 });

      // A code that expires while shown: the daemon's reason appears in the panel.
      const old = await bus.pairing.request({ userId: "4040" }, LIMITS, Date.now() - LIMITS.ttlMs + 8_000);
      const oldCode = old.status === "issued" ? old.code : "";
      await page.locator(`#pairing-requests tr[data-code="${oldCode}"]`).waitFor({ timeout: 10_000 });
      await waitFor(async () => (await bus.pairing.list()).requests.length === 0, "the code to expire", 15_000);
      await page.getByTestId(`approve-${oldCode}`).click();
      await page.locator('#pairing-note[data-kind="error"]', { hasText: "has expired" }).waitFor({ timeout: 10_000 });
      assert.equal(await bus.pairing.isApproved(4040), false);
      // Resource failures are expected here (no agent history without a daemon; the refused approval's 404); scripts must not fail.
      assert.deepEqual(
        errors.filter((e) => !/Failed to load resource/.test(e)),
        [],
      );
    } finally {
      await page.close();
    }
  });
});
