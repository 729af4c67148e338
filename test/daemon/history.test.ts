/**
 * Every agent turn visible, with history: the built daemon (real pi SDK, fake LLM, private Redis).
 * An event pushed with the seed's redis-cli lines shows up in /api/history, in `pi-gateway tail`
 * (a `replied` entry) and live on a WebSocket client that did not ask; a HEARTBEAT_OK turn in none
 * of them; the history survives a restart; `pi-gateway chat` finds the daemon's token file itself.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeEach, describe, test } from "node:test";
import { chromium, type Page } from "playwright-core";
import type { HistoryItem } from "../../src/daemon/history.js";
import { runCli } from "../helpers/cli.js";
import { usePiSuite } from "../helpers/pi-suite.js";
import { requireTool, skipWithout } from "../helpers/tools.js";
import { sleep, waitFor } from "../helpers/wait.js";
import { wsListener } from "../helpers/ws-listener.js";
import { CLI_BIN } from "../helpers/cli.js";

const TOKEN = "history-test-token-0123456789abcdef";

// No GATEWAY_TOKEN by default: the tests that need one pass it (one finds the daemon's token file itself).
const suite = usePiSuite({ flushEach: true, env: () => ({ GATEWAY_SHUTDOWN_GRACE: "10s" }) });
beforeEach(() => {
  suite.llm.setResponder((r) => {
    if (r.lastUserText.includes("cron.heartbeat")) return { text: "HEARTBEAT_OK" };
    if (r.lastUserText.includes("build.failed")) return { text: "The build failed in step lint.\nI will look at it.", chunkDelayMs: 20 };
    return { text: `reply to: ${r.lastUserText.slice(0, 60)}` };
  });
});

const { daemon } = suite;

const listener = (url: string) => wsListener(url, TOKEN);

async function prompt(url: string, text: string): Promise<void> {
  const result = await runCli(["chat", "--url", `${url.replace(/^http/, "ws")}/ws`, "--token", TOKEN, "--message", text]);
  assert.equal(result.code, 0, result.stderr);
}

async function history(url: string, query = ""): Promise<{ items: HistoryItem[]; more: boolean }> {
  const response = await fetch(`${url}/api/history${query}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()) as { items: HistoryItem[]; more: boolean };
}

/** Every entry of every session file under the agent dir. */
function sessionEntries(agentDir: string): Array<{ type?: string; customType?: string; details?: unknown }> {
  const dir = join(agentDir, "sessions");
  const files = readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".jsonl"));
  return files.flatMap((f) =>
    readFileSync(join(dir, f), "utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { type?: string }),
  );
}

const redisCli = (...args: string[]) =>
  execFileSync("redis-cli", ["-p", String(suite.redis.port), ...args])
    .toString()
    .trim();

describe("every agent turn visible, with history", () => {
  test("an event pushed with the seed's redis-cli lines: in /api/history, in tail, live on a client that did not ask; HEARTBEAT_OK in none; history survives a restart", async () => {
    const first = await daemon({ GATEWAY_TOKEN: TOKEN });
    await waitFor(async () => (await suite.bus.sessions()).find((s) => s.id === "gateway" && s.live), "daemon registered as central");
    await prompt(first.url, "remember the word kumquat");
    const watcher = await listener(first.url);

    redisCli("LPUSH", "agent:events:main", '{"id":"ci-42","type":"build.failed","source":"ci","payload":{"step":"lint"},"ts":0}');
    redisCli("PUBLISH", "agent:notify:main", "ci-42");
    await waitFor(() => watcher.messages.some((m) => m.type === "end" && m.text.includes("build failed")), "the event's reply, live", 20_000);
    const start = watcher.messages.find((m) => m.type === "start")!;
    assert.ok(start.type === "start");
    assert.deepEqual(start.origin, { kind: "event", channel: "redis", requestId: "events:ci-42", types: ["build.failed"], sources: ["ci"] });
    assert.match(start.prompt ?? "", /build\.failed/);
    const badge = { id: "ci-42", type: "build.failed", source: "ci", ts: 0, preview: '{\n  "step": "lint"\n}' };
    assert.deepEqual(start.events, [badge], "the live start carries the event's badge data");
    // The model reads the batch as one user-role message holding the fenced payload, in one turn.
    const asked = suite.llm.chatRequests().filter((r) => r.lastUserText.includes("event-id: `ci-42`"));
    assert.equal(asked.length, 1, "one turn for the batch");
    const lastMessage = asked[0]!.body.messages?.at(-1);
    assert.equal(lastMessage?.role, "user");
    assert.match(asked[0]!.lastUserText, /untrusted content[^]*```json\n\{\n {2}"step": "lint"\n\}\n```/);
    assert.ok(
      watcher.messages.some((m) => m.type === "delta" && m.requestId === "events:ci-42"),
      "streamed delta by delta",
    );

    await suite.bus.push({ id: "hb-1", type: "cron.heartbeat", source: "cron", payload: {}, ts: Date.now() });
    await suite.llm.waitForRequest((r) => r.lastUserText.includes("hb-1"), 15_000);
    await waitFor(async () => (await suite.bus.client.xlen("agent:daemon:queue:heartbeat")) === 0, "heartbeat turn done", 15_000);
    await sleep(300);
    watcher.close();
    assert.ok(!JSON.stringify(watcher.messages).includes("HEARTBEAT_OK"), "no HEARTBEAT_OK live");
    assert.ok(!watcher.messages.some((m) => m.type === "start" && m.requestId.startsWith("heartbeat:")), "the heartbeat turn not shown at all");

    const tail = await runCli(["tail", "-n", "50", "--kind", "replied", "--redis-url", suite.redis.url]);
    assert.equal(tail.code, 0, tail.stderr);
    assert.match(tail.stdout, /replied +redis events:ci-42 build\.failed \(ci\) -> gateway: The build failed in step lint\.\n/);
    assert.match(tail.stdout, /replied +websocket ws:\S+ -> gateway: reply to: remember the word kumquat/);
    const json = await runCli(["tail", "-n", "50", "--json", "--redis-url", suite.redis.url]);
    const replied = json.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((e) => e.kind === "replied");
    assert.equal(replied.length, 2, json.stdout);
    assert.deepEqual(
      { channel: replied[1]!.channel, id: replied[1]!.id, type: replied[1]!.type, source: replied[1]!.source, reply: replied[1]!.reply },
      { channel: "redis", id: "events:ci-42", type: "build.failed", source: "ci", reply: "The build failed in step lint." },
    );
    assert.ok(!json.stdout.includes("HEARTBEAT_OK"), "no HEARTBEAT_OK in the journal");

    assert.equal(await first.stop(), 0);
    const second = await daemon({ GATEWAY_TOKEN: TOKEN });
    const { items, more } = await history(second.url);
    assert.equal(more, false);
    assert.ok(!JSON.stringify(items).includes("HEARTBEAT_OK"), "no heartbeat turn in the history");
    const summary = items.map((i) =>
      i.kind === "prompt" ? `prompt ${i.origin?.kind}/${i.origin?.channel}` : i.kind === "reply" ? `reply ${i.text.split("\n")[0]}` : `tool ${i.name}`,
    );
    assert.deepEqual(summary, [
      "prompt prompt/websocket",
      "reply reply to: remember the word kumquat",
      "prompt event/redis",
      "reply The build failed in step lint.",
    ]);
    const event = items[2]!;
    assert.ok(event.kind === "prompt");
    assert.deepEqual(event.origin?.types, ["build.failed"]);
    assert.match(event.text, /event-id: `ci-42`/);
    assert.deepEqual(event.events, [badge], "a badge per event, from the gateway message's details");
    // The session file holds the structured entry: a gateway custom message whose details name the events.
    const entries = sessionEntries(suite.piEnv.agentDir).filter((e) => e.type === "custom_message" && e.customType === "pi-gateway");
    const batches = entries.map((e) => e.details as { kind: string; ids: string[]; requests: string[] });
    assert.deepEqual(
      batches.map((d) => [d.kind, d.ids, d.requests]),
      [
        ["events", ["ci-42"], ["events:ci-42"]],
        ["heartbeat", ["hb-1"], ["heartbeat:hb-1"]],
      ],
    );
    assert.ok(!sessionEntries(suite.piEnv.agentDir).some((e) => e.type === "message" && JSON.stringify(e).includes("event-id: `ci-42`")), "not a user message");
    const sentToModel = JSON.stringify(suite.llm.chatRequests().map((r) => r.body.messages));
    assert.ok(!sentToModel.includes("pi-gateway.origin") && !sentToModel.includes("events:ci-42"), "the origin records never reach the model");

    const older = await history(second.url, `?limit=2&before=${items[2]!.id}`);
    assert.deepEqual(
      older.items.map((i) => i.id),
      [items[0]!.id, items[1]!.id],
    );
    const newest = await history(second.url, "?limit=1&before=");
    assert.deepEqual(
      newest.items.map((i) => i.id),
      [items[3]!.id],
    );
    assert.equal(newest.more, true);
  });

  test("a tool call is shown collapsed: name, short arguments, ok or error", async () => {
    suite.llm.setResponder((r) =>
      r.body.messages?.at(-1)?.role === "tool" ? { text: "listed" } : { text: "", toolCalls: [{ name: "bash", arguments: { command: "ls -la /tmp" } }] },
    );
    const d = await daemon({ GATEWAY_TOKEN: TOKEN });
    await prompt(d.url, "list the files");
    const { items } = await history(d.url);
    const tool = items.find((i) => i.kind === "tool");
    assert.deepEqual(tool && { name: tool.name, args: tool.args, status: tool.status }, { name: "bash", args: "command=ls -la /tmp", status: "ok" });
    const last = items.at(-1);
    assert.equal(last?.kind === "reply" ? last.text : undefined, "listed");
  });

  test("/api/history needs the token and refuses a malformed limit or an unknown before", async () => {
    const d = await daemon({ GATEWAY_TOKEN: TOKEN });
    assert.equal((await fetch(`${d.url}/api/history`)).status, 401);
    assert.equal((await fetch(`${d.url}/api/history?token=wrong`)).status, 401);
    assert.equal((await fetch(`${d.url}/api/history?token=${TOKEN}`)).status, 200, "the page may pass it in the query");
    for (const query of ["?limit=0", "?limit=abc", "?limit=1001", "?limit=1.5", "?before=nope"]) {
      const response = await fetch(`${d.url}/api/history${query}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(response.status, 400, query);
      assert.equal(((await response.json()) as { code: string }).code, "INVALID_QUERY");
    }
    assert.deepEqual(await history(d.url, "?limit="), { items: [], more: false }, "empty limit: the default");
  });

  test("pi-gateway chat finds the daemon's token file without flags and prints turns of any origin, marked", async () => {
    const env = { HOME: suite.piEnv.home, GATEWAY_TOKEN: "" };
    const d = await daemon(env);
    const url = `${d.url.replace(/^http/, "ws")}/ws`;
    const chat = spawn(process.execPath, [CLI_BIN, "chat", "--url", url], {
      env: { ...process.env, ...env, REDIS_URL: suite.redis.url },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    chat.stdout.on("data", (b: Buffer) => (out += b.toString()));
    chat.stderr.on("data", (b: Buffer) => (out += b.toString()));
    try {
      await waitFor(() => out.includes("connected"), "chat connected with the token file", 10_000);
      await suite.bus.push({ id: "ci-7", type: "build.failed", source: "ci", payload: {}, ts: Date.now() });
      await waitFor(() => out.includes("I will look at it."), "the event's reply in chat", 20_000);
      assert.match(out, /\[event via redis: build\.failed from ci\]\nThe build failed in step lint\.\nI will look at it\./);
    } finally {
      chat.stdin.end();
      chat.kill();
    }

    const oneShot = await runCli(["chat", "--url", url, "--message", "hi"], { env });
    assert.equal(oneShot.code, 0, oneShot.stderr);
    assert.match(oneShot.stdout, /reply to: hi/);
  });

  test("pi-gateway chat without a token: a missing or empty token file is one clear error", async () => {
    const file = join(suite.piEnv.home, "no-such-token");
    const missing = await runCli(["chat", "--url", "ws://127.0.0.1:9/ws", "--message", "x"], { env: { GATEWAY_TOKEN: "", GATEWAY_TOKEN_FILE: file } });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no token: pass --token, set GATEWAY_TOKEN, or start the daemon once \(it writes .*no-such-token\)/);
    writeFileSync(file, "\n");
    const empty = await runCli(["chat", "--url", "ws://127.0.0.1:9/ws", "--message", "x"], { env: { GATEWAY_TOKEN: "", GATEWAY_TOKEN_FILE: file } });
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /token file .* is empty/);
    const blank = await runCli(["chat", "--url", "ws://127.0.0.1:9/ws", "--token", " ", "--message", "x"]);
    assert.equal(blank.code, 2);
    assert.match(blank.stderr, /--token must not be empty/);
  });

  test(
    "the web page shows the whole conversation after a reload and a daemon restart; turns of any origin stream in live",
    { skip: skipWithout("chromium") },
    async () => {
      suite.llm.setResponder((r) => {
        if (r.lastUserText.includes("cron.heartbeat")) return { text: "HEARTBEAT_OK" };
        if (r.lastUserText.includes("build.failed")) return { text: "The build failed in step lint.", chunkDelayMs: 40 };
        if (r.body.messages?.at(-1)?.role === "tool") return { text: "listed the files" };
        return { text: "", toolCalls: [{ name: "bash", arguments: { command: "ls -la" } }] };
      });
      const first = await daemon({ GATEWAY_TOKEN: TOKEN });
      await prompt(first.url, "list the files");
      const browser = await chromium.launch({
        executablePath: requireTool("chromium"),
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"],
      });
      const text = async (page: Page, selector: string) => (await page.locator(selector).allTextContents()).join("\n");
      const conversation = async (page: Page) => {
        await page.waitForSelector('.msg.user[data-origin="prompt"]', { timeout: 10_000 });
        assert.match(await text(page, '.msg.user[data-origin="prompt"] .badge'), /prompt · websocket/);
        assert.match(await text(page, ".msg.user .body"), /list the files/);
        assert.equal(await page.locator('.tool-line[data-tool="bash"][data-status="ok"]').count(), 1, "the tool call, collapsed");
        assert.match(await text(page, ".tool-line .tool-args"), /command=ls -la/);
        assert.match(await text(page, ".msg.assistant"), /listed the files/);
        assert.match(await text(page, '.msg.trigger[data-origin="event"] .badge'), /event · redis · build\.failed · ci/);
        // One badge per event (type · source · time · origin), its payload collapsed, markup in it inert text.
        const item = page.locator('.msg.trigger[data-origin="event"] .event-item[data-event-id="ci-9"]');
        assert.match((await item.locator(".event-badge").textContent()) ?? "", /^build\.failed · ci · \d\d:\d\d:\d\d · from sat-7$/);
        assert.equal(await item.evaluate((node) => (node as unknown as { open: boolean }).open), false, "payload collapsed");
        assert.equal(await item.locator(".event-payload").isVisible(), false);
        await item.locator("summary").click();
        assert.equal(await item.locator(".event-payload").isVisible(), true);
        assert.match((await item.locator(".event-payload").textContent()) ?? "", /"html": "<img src=x onerror=alert\(1\)>"/);
        assert.equal(await page.locator(".msg.trigger img").count(), 0, "the payload's markup is text, never an element");
        assert.match(await text(page, ".msg.assistant"), /The build failed in step lint\./);
        assert.doesNotMatch((await page.textContent("#messages")) ?? "", /HEARTBEAT_OK|cron\.heartbeat/);
      };
      try {
        const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
        await page.goto(`${first.url}/#token=${TOKEN}`);
        await page.waitForSelector('#conn[data-state="connected"]', { timeout: 10_000 });
        await page.waitForSelector(".history .tool-line", { timeout: 10_000 });

        const payload = { step: "lint", html: "<img src=x onerror=alert(1)>" };
        await suite.bus.push({ id: "ci-9", type: "build.failed", source: "ci", payload, ts: Date.now(), originSession: "sat-7" });
        await page.waitForSelector('.msg.trigger[data-origin="event"]', { timeout: 15_000 });
        await page.waitForSelector(".msg.assistant.streaming", { timeout: 15_000 });
        await page.waitForFunction(
          () => (globalThis as unknown as { document: { body: { textContent: string } } }).document.body.textContent.includes("The build failed in step lint."),
          undefined,
          { timeout: 15_000 },
        );
        await suite.bus.push({ id: "hb-9", type: "cron.heartbeat", source: "cron", payload: {}, ts: Date.now() });
        await suite.llm.waitForRequest((r) => r.lastUserText.includes("hb-9"), 15_000);
        await waitFor(async () => (await suite.bus.client.xlen("agent:daemon:queue:heartbeat")) === 0, "heartbeat turn done", 15_000);
        await sleep(300);
        await conversation(page);

        await page.reload();
        await conversation(page);
        assert.equal(await page.locator(".history .msg").count(), 4, "the prompt, its reply, the event, its reply: all from the history");

        assert.equal(await first.stop(), 0);
        const second = await daemon({ GATEWAY_TOKEN: TOKEN });
        await page.goto(`${second.url}/#token=${TOKEN}`);
        await conversation(page);
        mkdirSync(".tmp/screenshots", { recursive: true });
        await page.screenshot({ path: ".tmp/screenshots/daemon-history.png" });
      } finally {
        await browser.close();
      }
    },
  );
});
