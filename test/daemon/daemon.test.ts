/**
 * The daemon end to end: the built `pi-gateway daemon` as a child process, embedding the REAL pi
 * SDK against the fake LLM, with our fake Telegram Bot API, a WebSocket client, a private Redis.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";
import { requireTool, skipWithout } from "../helpers/tools.js";
import { beforeEach, describe, test } from "node:test";
import { WebSocket } from "ws";
import { createEvent } from "../../src/protocol/event.js";
import type { ServerMessage } from "../../src/daemon/ws-protocol.js";
import { startFakeTelegram, type FakeTelegram } from "../helpers/fake-telegram.js";
import { usePiSuite } from "../helpers/pi-suite.js";
import { sleep, waitFor } from "../helpers/wait.js";

const TOKEN = "daemon-test-token-0123456789abcdef";
const OWNER = 111;

let telegram: FakeTelegram;

const suite = usePiSuite({
  aof: true,
  flushEach: true,
  token: TOKEN,
  env: () => ({
    TELEGRAM_BOT_TOKEN: telegram.token,
    TELEGRAM_API_ROOT: telegram.apiRoot,
    TELEGRAM_ALLOWED_USERS: String(OWNER),
    // Strangers get nothing at all here (pairing codes: test/daemon/telegram-media.test.ts).
    TELEGRAM_PAIRING: "0",
    GATEWAY_SHUTDOWN_GRACE: "10s",
  }),
  // The fake Telegram closes after the daemons are killed, before the pi environment is removed.
  afterEnd: () => telegram.close(),
});
beforeEach(async () => {
  telegram = await startFakeTelegram();
  // Replies name what they answer, so crossed wires would show.
  suite.llm.setResponder((r) => ({ text: `reply to: ${r.lastUserText.slice(0, 60)}` }));
});
const { daemon } = suite;

/** A WebSocket client that sends one prompt and collects what comes back for it. */
async function wsPrompt(url: string, text: string, id = crypto.randomUUID()): Promise<{ deltas: string[]; end: string; types: string[] }> {
  const socket = new WebSocket(`${url.replace(/^http/, "ws")}/ws`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const messages: ServerMessage[] = [];
  socket.on("message", (data) => messages.push(JSON.parse(data.toString()) as ServerMessage));
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  socket.send(JSON.stringify({ type: "prompt", id, text }));
  // Every client also sees the turns others started: keep this prompt's own messages.
  const own = () => messages.filter((m) => m.type === "hello" || m.type === "queued" || ("requestId" in m && m.requestId === `ws:${id}`));
  try {
    await waitFor(() => own().some((m) => m.type === "end" || m.type === "error"), `reply to ${text}`, 20_000);
  } finally {
    socket.close();
  }
  messages.splice(0, messages.length, ...own());
  const error = messages.find((m) => m.type === "error");
  if (error && error.type === "error") throw new Error(error.message);
  const end = messages.find((m) => m.type === "end");
  return {
    deltas: messages.filter((m) => m.type === "delta").map((m) => (m.type === "delta" ? m.text : "")),
    end: end && end.type === "end" ? end.text : "",
    types: messages.map((m) => m.type),
  };
}

describe("pi-gateway daemon", () => {
  test("a Telegram message gets its reply in the same chat; an unauthorised chat gets nothing", async () => {
    await daemon();
    telegram.injectMessage({ chatId: 999, userId: 999, text: "let me in" });
    telegram.injectMessage({ chatId: OWNER, userId: OWNER, text: "hello from telegram" });
    await waitFor(() => telegram.messagesIn(OWNER).some((t) => t.includes("reply to: hello from telegram")), "reply in the owner's chat", 20_000);
    await sleep(500);
    assert.deepEqual(
      telegram.callsTo(999).filter((c) => c.method !== "getUpdates"),
      [],
      "nothing at all sent to the unlisted chat",
    );
    assert.equal(suite.llm.requests.filter((r) => r.lastUserText.includes("let me in")).length, 0, "the agent never saw it");
  });

  test("a WebSocket prompt streams back deltas and the end", async () => {
    const d = await daemon();
    const reply = await wsPrompt(d.url, "stream please");
    assert.ok(reply.deltas.length >= 2, `streamed in pieces (${reply.deltas.length})`);
    assert.equal(reply.deltas.join(""), "reply to: stream please");
    assert.equal(reply.end, "reply to: stream please");
    assert.deepEqual(reply.types.slice(0, 3), ["hello", "queued", "start"]);
  });

  test("Telegram and WebSocket at the same moment: each reply on its own channel", async () => {
    const d = await daemon();
    suite.llm.setResponder((r) => ({ text: `reply to: ${r.lastUserText}`, chunkDelayMs: 20 }));
    telegram.injectMessage({ chatId: OWNER, userId: OWNER, text: "question via telegram" });
    const ws = await wsPrompt(d.url, "question via websocket");
    assert.equal(ws.end, "reply to: question via websocket");
    await waitFor(() => telegram.messagesIn(OWNER).some((t) => t.includes("reply to: question via telegram")), "telegram reply", 20_000);
    assert.ok(!telegram.messagesIn(OWNER).some((t) => t.includes("websocket")), "the WebSocket reply never went to Telegram");
  });

  test("kill -9 mid-turn, then restart: the command is replayed and answered once", async () => {
    suite.llm.setResponder((r) =>
      // includes, not startsWith: the replayed turn's text begins with the replay note.
      r.lastUserText.includes("long job") ? { text: Array.from({ length: 40 }, (_, i) => `part${i}`).join(" "), chunkDelayMs: 100 } : { text: "ok" },
    );
    const first = await daemon();
    telegram.injectMessage({ chatId: OWNER, userId: OWNER, text: "long job please" });
    await suite.llm.waitForRequest((r) => r.lastUserText.startsWith("long job"), 15_000);
    await sleep(600);
    await first.kill();
    const sentBefore = telegram.messagesIn(OWNER).filter((t) => t.includes("part39")).length;
    assert.equal(sentBefore, 0, "killed before the reply was complete");

    await daemon();
    await waitFor(() => telegram.messagesIn(OWNER).some((t) => t.includes("part39")), "the replayed command's reply", 30_000);
    await sleep(1500);
    const finals = telegram.chatMessages(OWNER).filter((m) => m.fromBot && m.text.includes("part39"));
    assert.equal(finals.length, 1, "answered once");
    const depth = await suite.bus.client.xlen("agent:daemon:queue:human");
    assert.equal(depth, 0, "the command left the queue");
  });

  test("a 10,000-character reply arrives on Telegram in ordered chunks under 4096", async () => {
    const paragraphs = Array.from({ length: 50 }, (_, i) => `Paragraph ${String(i).padStart(2, "0")} ${"lorem ipsum ".repeat(15).trim()}.`);
    const long = paragraphs.join("\n\n");
    assert.ok(long.length >= 9_000);
    suite.llm.setResponder(() => ({ text: long }));
    await daemon();
    telegram.injectMessage({ chatId: OWNER, userId: OWNER, text: "write a lot" });
    await waitFor(() => telegram.messagesIn(OWNER).some((t) => t.includes("Paragraph 49")), "the last chunk", 20_000);
    await sleep(500);
    const texts = telegram.messagesIn(OWNER).filter((t) => t.includes("Paragraph"));
    assert.ok(texts.length >= 3, `several chunks (${texts.length})`);
    for (const t of texts) assert.ok(t.length < 4096, `chunk of ${t.length}`);
    const order = texts
      .join("\n")
      .match(/Paragraph \d\d/g)!
      .map((m) => Number(m.slice(-2)));
    assert.deepEqual(
      order,
      Array.from({ length: 50 }, (_, i) => i),
      "every paragraph once, in order",
    );
  });

  test("graceful shutdown lets the current turn finish; the next start resumes the same pi session", async () => {
    suite.llm.setResponder((r) => ({ text: `finished: ${r.lastUserText}`.split(" ").join(" "), chunkDelayMs: 150 }));
    const first = await daemon();
    telegram.injectMessage({ chatId: OWNER, userId: OWNER, text: "remember the word kumquat" });
    await suite.llm.waitForRequest((r) => r.lastUserText.includes("kumquat"), 15_000);
    const code = await first.stop();
    assert.equal(code, 0);
    assert.ok(
      telegram.messagesIn(OWNER).some((t) => t.includes("finished: remember the word kumquat")),
      "the turn finished before exit",
    );

    suite.llm.setResponder(() => ({ text: "second" }));
    const second = await daemon();
    const reply = await wsPrompt(second.url, "what was the word?");
    assert.equal(reply.end, "second");
    const last = suite.llm.requests.at(-1)!;
    assert.ok(JSON.stringify(last.body.messages).includes("kumquat"), "the resumed session still has the earlier turn");
  });

  test("events and heartbeats report to the owner's chat; HEARTBEAT_OK is never forwarded; a signed webhook becomes an event", async () => {
    suite.llm.setResponder((r) =>
      r.lastUserText.includes("cron.heartbeat")
        ? { text: "HEARTBEAT_OK" }
        : { text: `handled: ${r.lastUserText.includes("webhook.github") ? "the webhook" : "an event"}` },
    );
    telegram.addChat(OWNER); // the owner started the bot some time ago, so the bot may write first
    const d = await daemon({ GATEWAY_HOOKS: JSON.stringify({ github: { secret: "hook-secret" } }) });
    await waitFor(async () => (await suite.bus.sessions()).find((s) => s.id === "gateway" && s.live), "daemon registered as central");

    await suite.bus.push(createEvent("cron.heartbeat", "cron", {}, { id: "hb-daemon" }));
    await suite.llm.waitForRequest((r) => r.lastUserText.includes("hb-daemon"), 15_000);
    await waitFor(async () => (await suite.bus.lastHeartbeat()) !== null, "heartbeat recorded");

    const body = JSON.stringify({ action: "completed", workflow_run: { conclusion: "failure" } });
    const signature = `sha256=${createHmac("sha256", "hook-secret").update(body).digest("hex")}`;
    const forged = await fetch(`${d.url}/hooks/github`, {
      method: "POST",
      body,
      headers: { "content-type": "application/json", "x-hub-signature-256": "sha256=00" },
    });
    assert.equal(forged.status, 401);
    const accepted = await fetch(`${d.url}/hooks/github`, {
      method: "POST",
      body,
      headers: { "content-type": "application/json", "x-hub-signature-256": signature, "x-github-event": "workflow_run", "x-github-delivery": "delivery-1" },
    });
    assert.equal(accepted.status, 202, await accepted.text());
    await waitFor(() => telegram.messagesIn(OWNER).some((t) => t.includes("handled: the webhook")), "owner told about the webhook", 20_000);
    const request = suite.llm.requests.find((r) => r.lastUserText.includes("webhook.github"))!;
    assert.match(request.lastUserText, /```json\n[\s\S]*"conclusion": "failure"/, "webhook payload fenced as data");
    assert.ok(!telegram.messagesIn(OWNER).some((t) => t.includes("HEARTBEAT_OK")), "HEARTBEAT_OK never forwarded");
  });

  test("the web page served by the daemon: send a message in headless Chromium, see the streamed reply", { skip: skipWithout("chromium") }, async () => {
    suite.llm.setResponder(() => ({ text: "Hello from the embedded pi, streamed word by word.", chunkDelayMs: 60 }));
    const d = await daemon();
    const browser = await chromium.launch({
      executablePath: requireTool("chromium"),
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      await page.goto(`${d.url}/#token=${TOKEN}`);
      await page.waitForSelector('#conn[data-state="connected"]', { timeout: 10_000 });
      await page.fill("#chat-input", "hi from the browser");
      await page.click("#send");
      await page.waitForSelector(".msg.assistant.streaming", { timeout: 10_000 });
      await page.waitForSelector(".msg.assistant.done", { timeout: 15_000 });
      assert.match((await page.textContent(".msg.assistant.done")) ?? "", /Hello from the embedded pi, streamed word by word\./);
      await page.waitForSelector('#sessions tr[data-session="gateway"][data-presence="live"]', { timeout: 10_000 });
      mkdirSync(".tmp/screenshots", { recursive: true });
      await page.screenshot({ path: ".tmp/screenshots/daemon-chat.png" });
      assert.ok(suite.llm.requests.some((r) => r.lastUserText === "hi from the browser"));
    } finally {
      await browser.close();
    }
  });

  test("a stuck turn is aborted after GATEWAY_TURN_TIMEOUT and the asker is told; the next command runs", async () => {
    suite.llm.setResponder((r) => (r.lastUserText === "hang" ? { text: "never finishing ".repeat(200), chunkDelayMs: 200 } : { text: "fine again" }));
    const d = await daemon({ GATEWAY_TURN_TIMEOUT: "1500ms" });
    const started = Date.now();
    await assert.rejects(wsPrompt(d.url, "hang"), /aborted after 1\.5s/);
    assert.ok(Date.now() - started < 10_000);
    assert.equal((await wsPrompt(d.url, "next")).end, "fine again");
  });

  test("collect mode (GATEWAY_QUEUE_MODES=telegram=collect): quick successive messages become one turn", async () => {
    suite.llm.setResponder((r) => ({ text: `got: ${r.lastUserText.replace(/\n+/g, " | ")}` }));
    await daemon({ GATEWAY_QUEUE_MODES: "telegram=collect", GATEWAY_COLLECT_WINDOW: "700ms" });
    for (const part of ["first part", "second part", "third part"]) {
      telegram.injectMessage({ chatId: OWNER, userId: OWNER, text: part });
      await sleep(100);
    }
    await waitFor(() => telegram.messagesIn(OWNER).some((t) => t.includes("got:")), "one merged reply", 20_000);
    await sleep(1_000);
    const replies = telegram.messagesIn(OWNER).filter((t) => t.includes("got:"));
    assert.deepEqual(replies, ["got: first part | second part | third part"]);
  });
});
