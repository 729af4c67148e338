/**
 * The daemon's web page in real headless Chromium (playwright-core, Debian's /usr/bin/chromium),
 * against a fake daemon of our own: node:http serving the assets through serveWebAsset, fake
 * /api/status and /api/journal, and a `ws` WebSocketServer that answers prompts the way the daemon
 * does (queued, start, delta..., tool start/end, end).
 */
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Hono } from "hono";
import { chromium, type Browser, type Locator, type Page } from "playwright-core";
import { requireTool, skipWithout } from "../helpers/tools.js";
import { WebSocketServer, type WebSocket } from "ws";
import type { BusStatus, JournalEntry, SessionInfo } from "../../src/bus/bus.js";
import type { DaemonStatus } from "../../src/daemon/types.js";
import type { ClientMessage, ServerMessage } from "../../src/daemon/ws-protocol.js";
import { mountWebRoutes, serveWebAsset, WEB_ASSET_PATHS, webAssets } from "../../src/web/assets.js";
import { sleep, waitFor } from "../helpers/wait.js";

const TOKEN = "test-token-5f1c9a";
const XSS = "<img src=x onerror=alert(1)>";
/** A reply in Markdown that also tries every way in: raw HTML, handlers, javascript: links. */
const MARKDOWN_REPLY = [
  "**bold** and _slanted_ and `code`",
  "",
  "- one",
  "- two",
  "",
  '[click me](javascript:window.pwned=5) <a href="javascript:window.pwned=6">raw link</a> [docs](https://example.org/docs)',
  "",
  'inline <img src=x onerror="window.pwned = 1"> and <svg onload="window.pwned = 3"></svg>',
  "",
  "<script>window.pwned = 2</script>",
  "",
  '<iframe src="javascript:window.pwned = 4"></iframe>',
  "",
  "<div>",
  "<b>block html</b>",
  "</div>",
].join("\n");
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const screenshots = join(root, ".tmp", "screenshots");

// ---------------------------------------------------------------------------------------------
// The fake daemon

const DELTAS = ["Hello", " from pi.", " I listed the files —", " all <b>fine</b>", "."];
const FULL_REPLY = DELTAS.join("");

class FakeDaemon {
  server!: Server;
  wss = new WebSocketServer({ noServer: true });
  clients = new Set<WebSocket>();
  received: ClientMessage[] = [];
  journalQueries: string[] = [];
  journal: JournalEntry[] = [];
  /** What GET /api/history answers (the daemon's session history). */
  history: unknown[] = [];
  /** Prompt text -> the deltas of the reply streamed for it at once (instead of the paused DELTAS reply). */
  cannedReplies = new Map<string, string[]>();
  /** The URL of every WebSocket upgrade (client id, epoch and last seq of a resume). */
  upgrades: URL[] = [];
  /** Resolved by the test to let the reply stream past its midpoint. */
  private release!: () => void;
  midpoint = new Promise<void>((resolve) => (this.release = resolve));
  private connections = 0;
  private seq = 0;

  constructor(private readonly startedAt = Date.now()) {
    const t = startedAt;
    this.addJournal({ at: t - 95_000, kind: "pushed", id: "evt-1001", type: "cron.heartbeat", source: "pi-gateway heartbeat", sessions: ["gateway"] });
    this.addJournal({ at: t - 94_000, kind: "delivered", id: "evt-1001", sessions: ["gateway"] });
    this.addJournal({ at: t - 61_000, kind: "pushed", id: "evt-1002", type: "download.complete", source: "aria2", sessions: ["gateway", "sat-7f3a"] });
    this.addJournal({ at: t - 60_000, kind: "dead-letter", id: "", sessions: ["sat-7f3a"], reason: `unparseable event: ${XSS}` });
    this.addJournal({ at: t - 30_000, kind: "pushed", id: "evt-1003", type: "ci.failed", source: XSS, sessions: ["gateway"] });
  }

  addJournal(entry: Omit<JournalEntry, "streamId">): JournalEntry {
    const full = { streamId: `${entry.at}-${this.seq++}`, ...entry };
    this.journal.push(full);
    return full;
  }

  status(): { daemon: DaemonStatus; bus: BusStatus } {
    const now = Date.now();
    const sessions: SessionInfo[] = [
      {
        id: "gateway",
        role: "central",
        durable: true,
        live: true,
        presenceDeadline: now + 30_000,
        pid: 41233,
        host: "homebox",
        cwd: "/home/me/agent",
        kind: "rpc",
        started: now - 3_600_000,
        lastSeen: now - 4_000,
        pending: 0,
        inFlight: 1,
        watchdog: "armed",
        watchdogThresholdMs: 30 * 60_000,
      },
      {
        id: "sat-7f3a",
        role: "satellite",
        durable: false,
        live: false,
        presenceDeadline: now - 600_000,
        pid: 52011,
        host: "homebox",
        cwd: "/home/me/project",
        started: now - 7_200_000,
        lastSeen: now - 660_000,
        pending: 3,
        inFlight: 0,
      },
    ];
    return {
      daemon: {
        state: "busy",
        sessionFile: "/home/me/.pi/sessions/gateway.jsonl",
        queue: { human: 0, event: 2, heartbeat: 0 },
        load: { oldestEventAgeMs: 12_000, windowSeconds: 60, turns: 24, turnsPerSecond: 0.4, eventsPerTurn: 9.5 },
        current: { requestId: "event:evt-1003", channel: "redis", startedAt: now - 14_000 },
        processed: 128,
        lastHeartbeat: this.startedAt - 120_000,
        watchdog: "armed",
      },
      bus: {
        redis: { url: "redis://127.0.0.1:6379", version: "7.2.4", aof: true, appendfsync: "everysec" },
        sessions,
        backlog: { gateway: 0, "sat-7f3a": 3, main: 0 },
        deadLetters: 1,
        duplicates: 0,
        pushed: 12,
        journalLength: this.journal.length,
        lastHeartbeat: this.startedAt - 120_000,
      },
    };
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on("upgrade", (req, socket, head) => {
      const url = new URL(req.url ?? "/", "http://x");
      if (url.pathname !== "/ws" || !authorised(req, url)) {
        socket.end("HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        return;
      }
      this.upgrades.push(url);
      this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws));
    });
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const ws of this.clients) ws.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  dropConnections(): void {
    for (const ws of this.clients) ws.terminate();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://x");
    const asset = serveWebAsset(url.pathname, req.method);
    if (asset) {
      res.writeHead(asset.status, Object.fromEntries(asset.headers));
      res.end(Buffer.from(await asset.arrayBuffer()));
      return;
    }
    if (url.pathname.startsWith("/api/")) {
      if (!authorised(req, url)) return json(res, 401, { error: "unauthorized" });
      if (url.pathname === "/api/status") return json(res, 200, this.status());
      if (url.pathname === "/api/history") return json(res, 200, { items: this.history, more: false });
      // The pairing panel's poll (test/web/pairing-panel.test.ts tests it against the real API).
      if (url.pathname === "/api/pairing") return json(res, 200, { requests: [], approved: [] });
      if (url.pathname === "/api/journal") {
        this.journalQueries.push(url.search);
        const afterId = url.searchParams.get("after");
        const limit = Number(url.searchParams.get("limit") ?? 100);
        const entries = afterId ? this.journal.filter((e) => compareIds(e.streamId, afterId) > 0) : this.journal;
        return json(res, 200, { entries: entries.slice(-limit) });
      }
    }
    json(res, 404, { error: "not found" });
  }

  private onConnection(ws: WebSocket): void {
    const connection = `c${++this.connections}`;
    this.clients.add(ws);
    ws.on("close", () => this.clients.delete(ws));
    const send = (message: ServerMessage) => ws.readyState === ws.OPEN && ws.send(JSON.stringify(message));
    send({ type: "hello", connection, client: `k-${connection}`, epoch: "e1", resumed: false, missed: 0, version: "0.1.0" });
    ws.on("message", (data) => {
      const message = JSON.parse(String(data)) as ClientMessage;
      this.received.push(message);
      if (message.type === "status") send({ type: "status", status: this.status().daemon });
      if (message.type !== "prompt") return;
      const requestId = `ws:${connection}:${message.id}`;
      const canned = this.cannedReplies.get(message.text);
      if (canned === undefined) void this.answer(send, requestId, message.id);
      else void this.answerWith(send, requestId, message.id, canned);
    });
  }

  /** The daemon's reply sequence, paused at its midpoint (after a tool started) until released. */
  private async answer(send: (message: ServerMessage) => void, requestId: string, id: string): Promise<void> {
    send({ type: "queued", id, requestId, duplicate: false });
    await sleep(60);
    send({ type: "start", requestId });
    for (const text of DELTAS.slice(0, 2)) {
      await sleep(60);
      send({ type: "delta", requestId, text });
    }
    send({ type: "tool", requestId, name: "bash", phase: "start" });
    await this.midpoint;
    await sleep(200);
    send({ type: "tool", requestId, name: "bash", phase: "end", isError: false });
    for (const text of DELTAS.slice(2)) {
      await sleep(60);
      send({ type: "delta", requestId, text });
    }
    await sleep(60);
    send({ type: "end", requestId, text: FULL_REPLY });
  }

  /** A canned reply: its deltas back to back, then the end with the whole text. */
  private async answerWith(send: (message: ServerMessage) => void, requestId: string, id: string, deltas: string[]): Promise<void> {
    send({ type: "queued", id, requestId, duplicate: false });
    send({ type: "start", requestId });
    await sleep(30);
    for (const text of deltas) send({ type: "delta", requestId, text });
    send({ type: "end", requestId, text: deltas.join("") });
  }

  continueReply(): void {
    this.release();
  }
}

function authorised(req: IncomingMessage, url: URL): boolean {
  return url.searchParams.get("token") === TOKEN || req.headers.authorization === `Bearer ${TOKEN}`;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "Content-Type": "application/json", "Cache-Control": "no-store" });
  res.end(JSON.stringify(body));
}

function compareIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split("-").map(Number);
  const [bm = 0, bs = 0] = b.split("-").map(Number);
  return am - bm || as - bs;
}

/** The few browser globals the page callbacks use (the project compiles without the DOM lib). */
interface InPage {
  document: {
    querySelector(selector: string): { textContent: string | null } | null;
    querySelectorAll(selector: string): { length: number };
    activeElement: { blur(): void } | null;
  };
  sessionStorage: { getItem(key: string): string | null };
  /** Set by any of the hostile snippets of MARKDOWN_REPLY, should one ever run. */
  pwned?: number;
  /** Renders of reply text blocks counted by the test's MutationObserver. */
  renders?: number;
}

/** Width and height from a PNG's IHDR chunk; fails if the bytes are not a PNG. */
function pngSize(file: string): { width: number; height: number; bytes: number } {
  const png = readFileSync(file);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], `${file} is not a PNG`);
  assert.equal(png.subarray(12, 16).toString("ascii"), "IHDR");
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20), bytes: png.length };
}

/**
 * The streamed text of the newest assistant bubble (text segments only, not tool lines). Each
 * segment is rendered Markdown (paragraphs): its text is trimmed, and segments are joined by a space.
 */
async function replyText(page: Page): Promise<string> {
  const segments = await page.locator(".msg.assistant").last().locator(".text").allTextContents();
  return segments
    .map((text) => text.trim())
    .filter(Boolean)
    .join(" ");
}

/** What a page reports that no test expects: console errors (CSP violations too), uncaught errors, dialogs (dismissed). */
function watchPage(page: Page): { errors: string[]; dialogs: string[] } {
  const errors: string[] = [];
  const dialogs: string[] = [];
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("dialog", (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  return { errors, dialogs };
}

/** A reply bubble of MARKDOWN_REPLY: the Markdown became markup, everything hostile stayed text or was dropped. */
async function assertSafeMarkdown(bubble: Locator): Promise<void> {
  const text = bubble.locator(".text");
  assert.equal(await text.locator("strong").textContent(), "bold");
  assert.equal(await text.locator("em").textContent(), "slanted");
  assert.equal(await text.locator("code").textContent(), "code");
  assert.deepEqual(await text.locator("li").allTextContents(), ["one", "two"]);
  const shown = (await text.allTextContents()).join("");
  for (const raw of [
    '<img src=x onerror="window.pwned = 1">',
    "<script>window.pwned = 2</script>",
    '<a href="javascript:window.pwned=6">',
    "<b>block html</b>",
  ]) {
    assert.ok(shown.includes(raw), `shown as text: ${raw} (in ${shown})`);
  }
  assert.equal(await text.locator("img, script, svg, iframe, b, div").count(), 0, "no element from the reply's raw HTML");
  const handlers = await bubble.locator("*").evaluateAll((nodes) => nodes.flatMap((n) => n.getAttributeNames().filter((name: string) => /^on/i.test(name))));
  assert.deepEqual(handlers, [], "no event handler attribute");
  const hrefs = await text.locator("a").evaluateAll((links) => links.map((a) => [a.getAttribute("href"), a.getAttribute("target"), a.getAttribute("rel")]));
  assert.deepEqual(
    hrefs,
    [
      [null, null, null],
      ["https://example.org/docs", "_blank", "noopener noreferrer"],
    ],
    "the javascript: link lost its href",
  );
}

// ---------------------------------------------------------------------------------------------

describe("web assets", () => {
  test("serves the page, script and stylesheet with content types, no-store and a strict CSP", async () => {
    const assets = webAssets();
    for (const path of ["/", "/index.html", "/app.js", "/style.css"]) assert.ok(assets.has(path), path);
    const page = serveWebAsset("/");
    assert.ok(page);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(page.headers.get("cache-control"), "no-store");
    const csp = page.headers.get("content-security-policy") ?? "";
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /connect-src 'self' ws: wss:/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    const html = await page.text();
    assert.match(html, /<script type="module" src="app.js"><\/script>/);
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, "no inline script");
    assert.doesNotMatch(html, /\son[a-z]+=/i, "no inline event handlers");
    assert.doesNotMatch(html, /\sstyle=/i, "no inline styles");
    assert.equal(serveWebAsset("/app.js")?.headers.get("content-type"), "text/javascript; charset=utf-8");
    // One self-contained bundle for the browser: no import left to resolve, no Node module, no zod.
    const js = (await serveWebAsset("/app.js")?.text()) ?? "";
    assert.ok(js.length > 10_000, `app.js is ${js.length} bytes`);
    assert.ok(!/(^|[;}])\s*import\s*[{*\w]|\brequire\(["']/m.test(js), "no import or require left in the bundle");
    assert.ok(!/["']node:|ZodError/.test(js), "no Node module, no zod");
    assert.equal(serveWebAsset("/style.css")?.headers.get("content-type"), "text/css; charset=utf-8");
    assert.equal(serveWebAsset("/api/status"), undefined);
    assert.equal(serveWebAsset("/app.js.txt"), undefined);
    assert.equal(serveWebAsset("/../package.json"), undefined);
    assert.equal(serveWebAsset("/app.js", "POST")?.status, 405);
    const head = serveWebAsset("/style.css", "HEAD");
    assert.equal(head?.status, 200);
    assert.equal(await head?.text(), "");
  });

  test("mountWebRoutes adds the routes to a Hono app", async () => {
    const app = new Hono();
    app.get("/api/status", (c) => c.json({ ok: true }));
    mountWebRoutes(app);
    for (const path of WEB_ASSET_PATHS) {
      const res = await app.request(path);
      assert.equal(res.status, 200, path);
      assert.ok(res.headers.get("content-security-policy"), path);
      assert.ok((await res.arrayBuffer()).byteLength > 100, path);
    }
    assert.equal((await app.request("/api/status")).status, 200);
    assert.equal((await app.request("/nope.js")).status, 404);
  });
});

describe("web page in headless Chromium", { skip: skipWithout("chromium") }, () => {
  let browser: Browser;
  let daemon: FakeDaemon;
  let base: string;

  before(async () => {
    daemon = new FakeDaemon();
    base = await daemon.start();
    browser = await chromium.launch({
      executablePath: requireTool("chromium"),
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"],
    });
    rmSync(screenshots, { recursive: true, force: true });
    mkdirSync(screenshots, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    await daemon?.stop();
  });

  test("chat streams the reply, panels show journal, sessions, heartbeat and queue", async () => {
    const context = await browser.newContext({ viewport: { width: 1360, height: 860 }, colorScheme: "light" });
    const page = await context.newPage();
    const { errors, dialogs } = watchPage(page);

    await page.goto(`${base}/#token=${TOKEN}`);
    await page.waitForSelector('#conn[data-state="connected"]');
    assert.ok(!page.url().includes(TOKEN), `the token is taken out of the address bar (${page.url()})`);
    assert.equal(await page.evaluate(() => (globalThis as unknown as InPage).sessionStorage.getItem("pi-gateway.token")), TOKEN);
    assert.equal(await page.textContent("#conn-text"), "connected");
    await page.waitForFunction(() => (globalThis as unknown as InPage).document.querySelector("#version")?.textContent === "v0.1.0");

    // --- chat: own message, then the reply streamed delta by delta -----------------------
    await page.fill("#chat-input", "what's in the repo?");
    await page.click("#send");
    const user = page.locator(".msg.user").last();
    assert.equal(await user.locator(".body").textContent(), "what's in the repo?");
    assert.equal(await page.inputValue("#chat-input"), "", "input cleared after send");
    await page.waitForSelector(".msg.user[data-status=answering]");

    // Midpoint: two deltas in, a tool running, the rest held back by the fake daemon.
    await page.waitForSelector('.msg.assistant .tool-line[data-phase="start"]');
    await waitFor(async () => (await replyText(page)) === "Hello from pi.", "the first two deltas");
    const partial = await replyText(page);
    assert.ok(FULL_REPLY.startsWith(partial) && partial.length < FULL_REPLY.length, `intermediate text: ${partial}`);
    assert.ok(
      await page
        .locator(".msg.assistant")
        .last()
        .evaluate((n) => n.classList.contains("streaming")),
    );
    assert.equal(await page.locator(".tool-line .tool-name").last().textContent(), "bash");
    assert.match((await page.locator(".tool-line").last().textContent()) ?? "", /running/);

    // Abort is offered while a reply streams, and sends {type:"abort"}.
    assert.equal(await page.isEnabled("#abort"), true);
    await page.click("#abort");
    await waitFor(() => daemon.received.some((m) => m.type === "abort"), "the abort frame");

    daemon.continueReply();
    await page.waitForSelector(".msg.assistant.done");
    assert.equal(await replyText(page), FULL_REPLY);
    const tool = page.locator(".msg.assistant .tool-line").last();
    assert.equal(await tool.getAttribute("data-phase"), "end");
    assert.match((await tool.textContent()) ?? "", /bash.*done/);
    assert.equal(await page.locator(".msg.user").last().getAttribute("data-status"), "answered");
    const prompt = daemon.received.find((m) => m.type === "prompt");
    assert.ok(prompt && prompt.type === "prompt" && prompt.text === "what's in the repo?" && prompt.id.length > 8);
    assert.equal(await page.locator("#messages b").count(), 0, "agent text is not parsed as HTML");

    // --- journal: newest first, untrusted fields as text ----------------------------------
    await page.waitForFunction(() => (globalThis as unknown as InPage).document.querySelectorAll("#journal .entry").length === 5);
    const kinds = await page.locator("#journal .entry .kind").allTextContents();
    assert.deepEqual(kinds, ["pushed", "dead-letter", "pushed", "delivered", "pushed"]);
    assert.deepEqual((await page.locator("#journal .entry .type").allTextContents()).filter(Boolean), ["ci.failed", "download.complete", "cron.heartbeat"]);
    const first = page.locator("#journal .entry").first();
    assert.equal(await first.locator(".source").textContent(), XSS);
    assert.equal(await first.locator(".sessions").textContent(), "→ gateway");
    assert.match((await first.locator(".time").textContent()) ?? "", /^\d\d:\d\d:\d\d$/);
    assert.match((await page.locator("#journal .entry.kind-dead-letter .detail").textContent()) ?? "", /unparseable event: <img src=x onerror=alert\(1\)>/);
    assert.match((await page.locator("#journal .entry").nth(2).locator(".sessions").textContent()) ?? "", /gateway, sat-7f3a/);
    assert.equal(await page.locator("img").count(), 0, "no img element from event text");

    // A new entry arrives through ?after=<newest streamId> and lands on top.
    const newest = daemon.journal.at(-1)!.streamId;
    daemon.addJournal({ at: Date.now(), kind: "pushed", id: "evt-1004", type: "mail.received", source: "imap", sessions: ["gateway"] });
    await page.waitForFunction(
      () => (globalThis as unknown as InPage).document.querySelector("#journal .entry .type")?.textContent === "mail.received",
      undefined,
      { timeout: 5_000 },
    );
    assert.ok(
      daemon.journalQueries.some((q) => new URLSearchParams(q).get("after") === newest),
      `polled with after=${newest}: ${daemon.journalQueries.join(" ")}`,
    );
    assert.equal(await page.locator("#journal .entry").count(), 6);

    // --- sessions: live central vs dead satellite, visibly distinct -----------------------
    const live = page.locator('#sessions tr[data-session="gateway"]');
    const dead = page.locator('#sessions tr[data-session="sat-7f3a"]');
    assert.equal(await live.getAttribute("data-presence"), "live");
    assert.equal(await dead.getAttribute("data-presence"), "dead");
    assert.equal(await live.locator(".role").textContent(), "central");
    assert.equal(await dead.locator(".role").textContent(), "satellite");
    assert.equal(await live.locator(".presence").textContent(), "live");
    assert.equal(await dead.locator(".presence").textContent(), "dead");
    assert.equal(await dead.locator(".pending").textContent(), "3");
    const liveColor = await live.locator(".presence").evaluate((n) => n.ownerDocument.defaultView!.getComputedStyle(n).color);
    const deadColor = await dead.locator(".presence").evaluate((n) => n.ownerDocument.defaultView!.getComputedStyle(n).color);
    assert.notEqual(liveColor, deadColor, "live and dead presence have different colours");
    assert.match((await page.textContent("#bus-summary")) ?? "", /1 dead letter · Redis 7\.2\.4/);

    // --- heartbeat, watchdog, queue -------------------------------------------------------
    assert.match((await page.textContent("#heartbeat-age")) ?? "", /^2 min ago$/);
    assert.equal(await page.textContent("#watchdog"), "armed");
    assert.equal(await page.getAttribute("#watchdog", "data-state"), "armed");
    assert.match((await page.textContent("#watchdog-detail")) ?? "", /30 min/);
    assert.equal(await page.textContent("#queue-human"), "0");
    assert.equal(await page.textContent("#queue-event"), "2");
    assert.equal(await page.textContent("#queue-heartbeat"), "0");
    assert.equal(await page.textContent("#queue-load"), "oldest event 12s · 0.4 turns/s · 9.5 events/turn (last 60 s)");
    assert.match((await page.textContent("#current")) ?? "", /redis.*event:evt-1003.*1\ds/);
    assert.equal(await page.textContent("#daemon-state"), "busy");

    assert.deepEqual(errors, [], "no console errors (CSP violations would show here)");
    assert.deepEqual(dialogs, []);

    // --- screenshots ----------------------------------------------------------------------
    await page.evaluate(() => (globalThis as unknown as InPage).document.activeElement?.blur());
    const file = join(screenshots, "chat.png");
    await page.screenshot({ path: file });
    const png = pngSize(file);
    assert.equal(png.width, 1360);
    assert.equal(png.height, 860);
    assert.ok(png.bytes > 30_000, `chat.png is ${png.bytes} bytes`);
    await page.emulateMedia({ colorScheme: "dark" });
    await page.screenshot({ path: join(screenshots, "chat-dark.png") });
    await page.setViewportSize({ width: 420, height: 900 });
    await page.screenshot({ path: join(screenshots, "chat-narrow.png"), fullPage: true });
    await page.setViewportSize({ width: 1360, height: 860 });

    // --- reconnect with backoff and a visible indicator -----------------------------------
    daemon.dropConnections();
    await page.waitForSelector('#conn[data-state="reconnecting"]', { timeout: 3_000 });
    await page.waitForSelector('#conn[data-state="connected"]', { timeout: 5_000 });
    await context.close();
  });

  test("a wrong token shows an unauthorized state; a good one pasted in recovers", async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    const page = await context.newPage();
    await page.goto(`${base}/?token=wrong-token`);
    await page.waitForSelector('#conn[data-state="unauthorized"]');
    assert.equal(await page.textContent("#conn-text"), "unauthorized");
    assert.equal(await page.isVisible("#auth"), true);
    assert.match((await page.textContent("#auth")) ?? "", /Unauthorized[\s\S]*refused the token \(HTTP 401\)/);
    assert.ok(!page.url().includes("wrong-token"));
    await page.screenshot({ path: join(screenshots, "unauthorized.png") });

    await page.fill("#token-input", TOKEN);
    await page.click("#token-save");
    await page.waitForSelector('#conn[data-state="connected"]');
    assert.equal(await page.isVisible("#auth"), false);
    await page.waitForSelector('#sessions tr[data-session="gateway"]');
    await context.close();
  });

  test("replies render as Markdown, in the history and live; HTML, handlers and javascript: links in them do nothing", async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    const page = await context.newPage();
    const { errors, dialogs } = watchPage(page);
    const at = Date.now() - 60_000;
    daemon.history = [
      { id: "h1", kind: "prompt", at, origin: { kind: "prompt", channel: "websocket", requestId: "ws:c0:h1" }, text: "**not bold**: a prompt stays text" },
      { id: "h2", kind: "reply", at: at + 1000, text: MARKDOWN_REPLY },
    ];
    const half = Math.floor(MARKDOWN_REPLY.length / 2);
    daemon.cannedReplies.set("show me markdown", [MARKDOWN_REPLY.slice(0, half), MARKDOWN_REPLY.slice(half)]);
    try {
      await page.goto(`${base}/#token=${TOKEN}`);
      await page.waitForSelector(".history .msg.assistant .text strong");
      assert.equal(await page.locator(".history .msg.user .body").textContent(), "**not bold**: a prompt stays text");
      await assertSafeMarkdown(page.locator(".history .msg.assistant"));

      await page.waitForSelector('#conn[data-state="connected"]');
      await page.fill("#chat-input", "show me markdown");
      await page.click("#send");
      await page.waitForSelector(".msg.assistant.done:not(.history-reply)");
      await assertSafeMarkdown(page.locator(".msg.assistant:not(.history-reply)").last());
      await page.screenshot({ path: join(screenshots, "markdown.png") });

      await sleep(300);
      assert.equal(await page.evaluate(() => (globalThis as unknown as InPage).pwned), undefined, "no hostile snippet ran");
      assert.deepEqual(dialogs, []);
      assert.deepEqual(errors, [], "no console errors (a blocked inline script or a failed image load would show here)");
    } finally {
      daemon.history = [];
      daemon.cannedReplies.clear();
      await context.close();
    }
  });

  test("a notification frame shows as a plain-text line, markup in it inert", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const { errors, dialogs } = watchPage(page);
    try {
      await page.goto(`${base}/#token=${TOKEN}`);
      await page.waitForSelector('#conn[data-state="connected"]');
      const notice: ServerMessage = { type: "notify", id: "1-0", text: `backup done ${XSS}`, from: "cli", at: Date.now() };
      for (const client of daemon.clients) client.send(JSON.stringify(notice));
      const line = page.locator(".msg.system", { hasText: "backup done" });
      await line.waitFor();
      assert.equal(await line.textContent(), `🔔 cli: backup done ${XSS}`);
      assert.equal(await line.locator("img").count(), 0, "the markup stays text");
      assert.deepEqual(dialogs, []);
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  test("a long reply of many small deltas is rendered in a few passes, and whole at its end", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const { errors } = watchPage(page);
    const deltas = Array.from({ length: 1_000 }, (_, i) => (i % 50 === 49 ? `**w${i}**\n\n` : `w${i} `));
    daemon.cannedReplies.set("a long one", deltas);
    try {
      await page.goto(`${base}/#token=${TOKEN}`);
      await page.waitForSelector('#conn[data-state="connected"]');
      // Counts every re-render of a reply's text block (each replaces the block's children once).
      await page.evaluate(`(() => {
        window.renders = 0;
        new MutationObserver((records) => {
          for (const record of records) if (record.target.classList?.contains("text")) window.renders++;
        }).observe(document.querySelector("#messages"), { childList: true, subtree: true });
      })()`);
      await page.fill("#chat-input", "a long one");
      await page.click("#send");
      await page.waitForSelector(".msg.assistant.done");
      assert.equal(await page.locator(".msg.assistant .text strong").count(), 20, "every bold word, once the reply ended");
      assert.equal(await page.locator(".msg.assistant .text strong").last().textContent(), "w999");
      const renders = await page.evaluate(() => (globalThis as unknown as InPage).renders ?? 0);
      assert.ok(renders >= 1 && renders < 200, `${renders} renders for ${deltas.length} deltas`);
      assert.deepEqual(errors, []);
    } finally {
      daemon.cannedReplies.clear();
      await context.close();
    }
  });

  test("after a drop the page reconnects as the same client with the last reply it saw, and says a lost gap", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      daemon.upgrades.length = 0;
      await page.goto(`${base}/#token=${TOKEN}`);
      await page.waitForSelector('#conn[data-state="connected"]');
      const first = daemon.upgrades.at(-1)!;
      const client = first.searchParams.get("client") ?? "";
      assert.match(client, /^web-[0-9a-f-]{36}$/, "the tab's client id is on the upgrade");
      assert.equal(first.searchParams.get("after"), null, "nothing to resume on the first connection");
      // hello of this fake is epoch "e1"; a numbered reply for this tab, then the connection drops.
      for (const ws of daemon.clients) ws.send(JSON.stringify({ type: "delta", requestId: "ws:other", text: "x", seq: 7 }));
      await sleep(200);
      for (const ws of daemon.clients) ws.terminate();
      await waitFor(() => daemon.upgrades.length >= 2, "the page reconnected", 10_000);
      const again = daemon.upgrades.at(-1)!;
      assert.equal(again.searchParams.get("client"), client, "the same client");
      assert.equal(again.searchParams.get("epoch"), "e1");
      assert.equal(again.searchParams.get("after"), "7", "the last seq it saw");
      await page.waitForSelector('#conn[data-state="connected"]');
      for (const ws of daemon.clients) ws.send(JSON.stringify({ type: "gap", lost: 3 }));
      await page.locator(".msg.error", { hasText: "3 replies were lost while disconnected" }).waitFor();
    } finally {
      await context.close();
    }
  });

  test("without any token the page asks for one instead of connecting", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${base}/`);
    await page.waitForSelector('#conn[data-state="unauthorized"]');
    assert.match((await page.textContent("#auth-reason")) ?? "", /No token/);
    await context.close();
  });
});
