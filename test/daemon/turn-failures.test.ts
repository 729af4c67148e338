/**
 * Turns that fail or are interrupted (issue #11, daemon part), end to end: the built daemon as a
 * child process embedding the REAL pi SDK against the fake LLM answering with HTTP errors.
 *
 * pi's own retry and the OpenAI SDK's retries are both off here (`retry.provider.maxRetries: 0`),
 * so every provider error reaches the daemon, which alone decides: retry later, or dead-letter.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { beforeEach, describe, test } from "node:test";
import { WebSocket } from "ws";
import type { JournalEntry } from "../../src/bus/bus.js";
import { createEvent } from "../../src/protocol/event.js";
import type { ServerMessage } from "../../src/daemon/ws-protocol.js";
import { runCli } from "../helpers/cli.js";
import type { FakeLlmRequest } from "../helpers/fake-llm.js";
import { startFakeTelegram, type FakeTelegram } from "../helpers/fake-telegram.js";
import { usePiSuite } from "../helpers/pi-suite.js";
import { gatewayDetailsIn, recordedEventIds } from "../helpers/session-records.js";
import { sleep, waitFor } from "../helpers/wait.js";

const TOKEN = "turn-failures-test-token-0123456789";
const OWNER = 222;
const REPLAY_NOTE =
  /^⚠️ The gateway restarted while you were working on the request below \(shown to you at (\S+)\); that turn was interrupted and its reply never reached the asker\.\nCheck what was already done before doing anything again, then answer it once\.\n\n/;

let telegram: FakeTelegram;
const sockets: WebSocket[] = [];

const suite = usePiSuite({
  aof: true,
  flushEach: true,
  piEnv: { settings: { retry: { enabled: false, provider: { maxRetries: 0 } } } },
  token: TOKEN,
  env: () => ({ TELEGRAM_BOT_TOKEN: telegram.token, TELEGRAM_API_ROOT: telegram.apiRoot, TELEGRAM_ALLOWED_USERS: String(OWNER) }),
  // The sockets close before the daemons are killed; the fake Telegram after, before the pi environment is removed.
  beforeEnd: () => {
    for (const s of sockets.splice(0)) s.close();
  },
  afterEnd: () => telegram.close(),
});
beforeEach(async () => {
  telegram = await startFakeTelegram();
  telegram.addChat(OWNER); // the owner talked to the bot before, so the bot may write first
  suite.llm.setResponder((r) => ({ text: `reply to: ${lastLine(r.lastUserText)}` }));
});
const { daemon } = suite;

/** A WebSocket client that keeps every message with the time it arrived. */
async function wsClient(url: string) {
  const socket = new WebSocket(`${url.replace(/^http/, "ws")}/ws`, { headers: { authorization: `Bearer ${TOKEN}` } });
  sockets.push(socket);
  const messages: Array<ServerMessage & { at: number }> = [];
  socket.on("message", (data) => messages.push({ ...(JSON.parse(data.toString()) as ServerMessage), at: Date.now() }));
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  return {
    /** Sends a prompt; returns its request id. */
    prompt(text: string): string {
      const id = crypto.randomUUID();
      socket.send(JSON.stringify({ type: "prompt", id, text }));
      return `ws:${id}`;
    },
    of: (requestId: string) => messages.filter((m) => "requestId" in m && m.requestId === requestId),
  };
}

const lastLine = (text: string) => text.split("\n").at(-1) ?? "";
const requestsFor = (needle: string): FakeLlmRequest[] => suite.llm.chatRequests().filter((r) => r.lastUserText.includes(needle));
const journalOf = async (id: string, kind: string): Promise<JournalEntry[]> => (await suite.bus.journal(200)).filter((e) => e.id === id && e.kind === kind);
const queueDepth = async () => {
  const lengths = await Promise.all(["human", "event", "heartbeat"].map((p) => suite.bus.client.xlen(`agent:daemon:queue:${p}`)));
  return lengths.reduce((a, b) => a + b, 0);
};

describe("daemon: failed and interrupted turns", () => {
  test("provider 503 twice, then fine: retried with doubling backoff, answered once, other prompts run while it waits", async () => {
    let failures = 0;
    suite.llm.setResponder((r) => {
      if (r.lastUserText.includes("flaky question") && failures < 2) {
        failures += 1;
        return { status: 503 };
      }
      return { text: `reply to: ${lastLine(r.lastUserText)}` };
    });
    const d = await daemon({ GATEWAY_TURN_RETRY_BACKOFF: "1500ms" });
    const ws = await wsClient(d.url);
    const flaky = ws.prompt("flaky question");
    await waitFor(async () => (await journalOf(flaky, "retry")).length === 1, "the first retry in the journal", 15_000);
    const quick = ws.prompt("quick question");
    await waitFor(() => ws.of(quick).some((m) => m.type === "end"), "the quick prompt answered", 15_000);
    await waitFor(() => ws.of(flaky).some((m) => m.type === "end" || m.type === "error"), "the flaky prompt's outcome", 20_000);

    const attempts = requestsFor("flaky question");
    assert.equal(attempts.length, 3, "two failures, one success");
    assert.equal(attempts[0]!.lastUserText, "flaky question");
    assert.match(
      attempts[1]!.lastUserText,
      /^⚠️ Retry 1 of this request: the previous attempt failed \(503 [^\n]*\); check what was already done before acting again\.\n\nflaky question$/,
    );
    assert.match(attempts[2]!.lastUserText, /^⚠️ Retry 2 of this request/);
    assert.ok(attempts[1]!.receivedAt - attempts[0]!.receivedAt >= 1_400, "first retry after ~1.5s");
    assert.ok(attempts[2]!.receivedAt - attempts[1]!.receivedAt >= 2_900, "second retry after ~3s (doubled)");
    const quickEnd = ws.of(quick).find((m) => m.type === "end")!;
    assert.ok(quickEnd.at < attempts[1]!.receivedAt, "the other prompt was answered while the failed one waited");

    const outcome = ws.of(flaky).filter((m) => m.type === "end" || m.type === "error");
    assert.deepEqual(
      outcome.map((m) => m.type),
      ["end"],
      "answered once, never told it failed",
    );
    assert.equal(outcome[0]!.type === "end" && outcome[0]!.text, "reply to: flaky question");
    const retries = await journalOf(flaky, "retry");
    assert.deepEqual(
      retries.map((e) => e.reason?.replace(/: .*/, "")),
      ["retry 1 of 5 in 1.5s", "retry 2 of 5 in 3s"],
    );
    assert.match(retries[0]!.reason!, /: 503 /);
    assert.match(d.output(), /turn failed; retrying later/, "the retries are logged");
    assert.equal((await suite.bus.deadLetters()).length, 0);
    assert.equal(await queueDepth(), 0, "nothing left queued");
    assert.equal(await suite.bus.client.hlen("agent:daemon:retry"), 0, "no retry state left behind");
  });

  test("provider 400: dead-lettered with the error at once (prompt and event), visible in dead letters, status and journal; the asker is told", async () => {
    suite.llm.setResponder((r) =>
      r.lastUserText.includes("malformed") || r.lastUserText.includes("ev-400")
        ? { status: 400, errorBody: { error: { message: "Invalid value for 'messages'", type: "invalid_request_error" } } }
        : { text: "fine" },
    );
    const d = await daemon();
    const ws = await wsClient(d.url);
    const asked = ws.prompt("a malformed request");
    await waitFor(() => ws.of(asked).some((m) => m.type === "error"), "the error reply", 15_000);
    const error = ws.of(asked).find((m) => m.type === "error")!;
    assert.equal(error.type, "error");
    assert.match(error.type === "error" ? error.message : "", /^turn failed: 400 Invalid value for 'messages' \(dead-lettered: see pi-gateway dead-letters\)$/);

    await suite.bus.push(createEvent("deploy.failed", "ci", { build: 7 }, { id: "ev-400" }));
    await waitFor(() => telegram.messagesIn(OWNER).some((t) => t.includes("dead-lettered")), "the owner told about the event", 15_000);
    await sleep(500);
    assert.equal(requestsFor("malformed").length, 1, "a 400 is not retried");
    assert.equal(requestsFor("ev-400").length, 1);
    assert.ok(
      telegram.messagesIn(OWNER).some((t) => t.includes("turn failed: 400 Invalid value")),
      "the owner sees the reason",
    );

    const letters = await suite.bus.deadLetters();
    const prompt = letters.find((l) => l.id === asked)!;
    assert.ok(prompt, `dead letter for ${asked}: ${JSON.stringify(letters)}`);
    assert.equal(prompt.reason, "turn failed: 400 Invalid value for 'messages'");
    assert.equal(prompt.session, "gateway");
    assert.equal((JSON.parse(prompt.raw) as { text: string }).text, "a malformed request", "the request itself is kept");
    assert.ok(letters.some((l) => l.id === "events:ev-400" && l.raw.includes("deploy.failed")));
    assert.equal((await suite.bus.status()).deadLetters, 2, "pi-gateway status counts them");
    assert.equal((await journalOf(asked, "dead-letter"))[0]?.reason, "turn failed: 400 Invalid value for 'messages'");
    assert.equal((await journalOf("events:ev-400", "dead-letter")).length, 1);

    const cli = await runCli(["dead-letters", "--json", "--redis-url", suite.redis.url]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.ok((JSON.parse(cli.stdout) as { deadLetters: Array<{ id?: string }> }).deadLetters.some((l) => l.id === asked));
    assert.equal(await queueDepth(), 0, "both left the queue");
  });

  test("the retry wait and the attempt count survive a daemon restart (kill -9)", async () => {
    suite.llm.setResponder((r) => (r.lastUserText.includes("persist-1") ? { status: 503 } : { text: "fine" }));
    const env = { GATEWAY_TURN_RETRIES: "2", GATEWAY_TURN_RETRY_BACKOFF: "3s" };
    const first = await daemon(env);
    await suite.bus.push(createEvent("job.done", "cron", {}, { id: "persist-1" }));
    await waitFor(async () => (await journalOf("events:persist-1", "retry")).length === 1, "the first failure recorded", 15_000);
    const state = JSON.parse((await suite.bus.client.hget("agent:daemon:retry", "events:persist-1"))!) as { attempts: number; notBefore: number };
    assert.equal(state.attempts, 1);
    await first.kill();

    await daemon(env);
    await waitFor(async () => (await suite.bus.deadLetters()).some((l) => l.id === "events:persist-1"), "dead-lettered after the last retry", 30_000);
    const attempts = requestsFor("persist-1");
    assert.equal(attempts.length, 3, "1 before the restart + 2 retries, not 1 + 3");
    assert.ok(attempts[1]!.receivedAt >= state.notBefore, "the restarted daemon waited for the retry time");
    const retries = (await journalOf("events:persist-1", "retry")).map((e) => e.reason?.replace(/: .*/, ""));
    assert.deepEqual(retries, ["retry 1 of 2 in 3s", "retry 2 of 2 in 6s"], "the count went on after the restart");
    const letter = (await suite.bus.deadLetters()).find((l) => l.id === "events:persist-1")!;
    assert.match(letter.reason, /^turn failed 3 times: 503 /);
    await waitFor(() => telegram.messagesIn(OWNER).some((t) => t.includes("turn failed 3 times")), "the owner told", 10_000);
    assert.equal(await queueDepth(), 0);
  });

  test("kill -9 mid-turn: the interrupted request is replayed with one line saying so; one that never started runs as new", async () => {
    const slow = (words: number) => ({ text: Array.from({ length: words }, (_, i) => `part${i}`).join(" "), chunkDelayMs: 100 });
    suite.llm.setResponder((r) => (r.lastUserText.includes("warm-up") ? slow(10) : r.lastUserText.includes("long job") ? slow(40) : { text: "ok" }));
    const first = await daemon();
    const ws = await wsClient(first.url);
    ws.prompt("warm-up");
    await suite.llm.waitForRequest((r) => r.lastUserText.includes("warm-up"), 15_000);
    // While the warm-up runs, an event and a prompt queue up: when the warm-up ends, the queue reads
    // both (the event into its pending list) but starts only the prompt.
    await suite.bus.push(createEvent("build.done", "ci", {}, { id: "never-started" }));
    await waitFor(async () => (await suite.bus.client.xlen("agent:daemon:queue:event")) === 1, "the event queued", 10_000);
    ws.prompt("long job please");
    const original = await suite.llm.waitForRequest((r) => r.lastUserText.includes("long job"), 15_000);
    assert.equal(original.lastUserText, "long job please");
    const pendingEvents = (await suite.bus.client.xpending("agent:daemon:queue:event", "daemon")) as [number, ...unknown[]];
    assert.equal(pendingEvents[0], 1, "the event was taken into the pending list, not started");
    await sleep(600);
    await first.kill();

    const since = suite.llm.chatRequests().length;
    await daemon();
    await waitFor(
      () =>
        suite.llm
          .chatRequests()
          .slice(since)
          .some((r) => r.lastUserText.includes("never-started")),
      "the event run after the restart",
      30_000,
    );
    const after = suite.llm.chatRequests().slice(since);
    const replay = after.find((r) => r.lastUserText.includes("long job"))!;
    const note = REPLAY_NOTE.exec(replay.lastUserText);
    assert.ok(note, `replay note first: ${JSON.stringify(replay.lastUserText.slice(0, 200))}`);
    assert.equal(replay.lastUserText.slice(note[0].length), "> long job please", "followed by the original request, quoted");
    assert.ok(Math.abs(Date.parse(note[1]!) - original.receivedAt) < 2_000, `the note names when it was shown (${note[1]})`);
    const event = after.find((r) => r.lastUserText.includes("never-started"))!;
    assert.doesNotMatch(event.lastUserText, /⚠️|Replayed|retried|restarted/, "a command whose turn never started gets no note");
    assert.equal(after.filter((r) => r.lastUserText.includes("never-started")).length, 1);
  });

  test("kill -9 after the reply reached the asker but before the ack: the turn is not run again and the asker has one answer", async () => {
    const asker = 333;
    telegram.addChat(asker);
    suite.llm.setResponder((r) => ({ text: r.lastUserText.includes("deploy v2") ? "Deployed v2. FINAL" : "ok" }));
    // The final reply (formatted, after "end") reaches the chat, but the daemon never hears back:
    // it is killed while it waits, before it can acknowledge the command.
    const release = telegram.holdAnswers((call) => call.params.parse_mode === "HTML" && String(call.params.text).includes("FINAL"));
    const first = await daemon({ TELEGRAM_ALLOWED_USERS: `${OWNER},${asker}` });
    telegram.injectMessage({ chatId: asker, userId: asker, text: "deploy v2 to production" });
    await waitFor(() => telegram.messagesIn(asker).some((t) => t.includes("FINAL")), "the reply is in the asker's chat", 20_000);
    await first.kill();
    release();

    await daemon({ TELEGRAM_ALLOWED_USERS: `${OWNER},${asker}` });
    await waitFor(async () => (await queueDepth()) === 0, "the command acknowledged by the next start", 20_000);
    await sleep(1_500); // a wrongly replayed turn would have reached the fake LLM by now
    assert.equal(requestsFor("deploy v2").length, 1, "the agent ran the request once");
    assert.equal(telegram.messagesIn(asker).filter((t) => t.includes("FINAL")).length, 1, "the asker has one answer");
  });

  test("an event whose turn hits GATEWAY_TURN_TIMEOUT is dead-lettered with that reason, not dropped", async () => {
    suite.llm.setResponder((r) => (r.lastUserText.includes("slow-ev") ? { text: "thinking ".repeat(200), chunkDelayMs: 100 } : { text: "fine" }));
    await daemon({ GATEWAY_TURN_TIMEOUT: "1500ms" });
    await suite.bus.push(createEvent("report.ready", "cron", {}, { id: "slow-ev" }));
    await waitFor(async () => (await suite.bus.deadLetters()).some((l) => l.id === "events:slow-ev"), "the timed-out event dead-lettered", 20_000);
    const letter = (await suite.bus.deadLetters()).find((l) => l.id === "events:slow-ev")!;
    assert.equal(letter.reason, "turn aborted after 1.5s");
    assert.equal((await journalOf("events:slow-ev", "dead-letter"))[0]?.reason, "turn aborted after 1.5s");
    await waitFor(() => telegram.messagesIn(OWNER).some((t) => t.includes("turn aborted after 1.5s")), "the owner told", 10_000);
    assert.equal(requestsFor("slow-ev").length, 1, "an abort is not retried");
    assert.equal(await queueDepth(), 0);
  });
  test("an event retried after the model failed: the session records it once, the retry's message names it as shown again", async () => {
    let failures = 0;
    suite.llm.setResponder((r) => {
      if (r.lastUserText.includes("event-id: `unreachable-1`") && failures < 2) {
        failures += 1;
        return { status: 503 };
      }
      return { text: "noted" };
    });
    await daemon({ GATEWAY_TURN_RETRY_BACKOFF: "300ms" });
    await suite.bus.push(createEvent("build.done", "ci", {}, { id: "unreachable-1" }));
    await waitFor(() => requestsFor("event-id: `unreachable-1`").length === 3, "two failures, one success", 20_000);
    await waitFor(async () => (await queueDepth()) === 0, "completed", 15_000);
    const sessions = join(suite.piEnv.agentDir, "sessions");
    assert.equal(recordedEventIds(sessions).get("unreachable-1"), 1, "recorded once in the session");
    const again = gatewayDetailsIn(sessions).filter((d) => Array.isArray(d.again) && d.again.includes("unreachable-1"));
    assert.equal(again.length, 2, "both retries name it as shown again");
  });

  test("kill -9 mid-turn of an event: after the replay the session records the event once", async () => {
    suite.llm.setResponder((r) =>
      r.lastUserText.includes("event-id: `killed-1`") && !r.lastUserText.includes("restarted")
        ? { text: Array.from({ length: 40 }, (_, i) => `w${i}`).join(" "), chunkDelayMs: 100 }
        : { text: "ok" },
    );
    const first = await daemon();
    // pi writes its session file from the first reply on: one turn ends before the one killed.
    await suite.bus.push(createEvent("build.done", "ci", {}, { id: "before-1" }));
    await waitFor(async () => requestsFor("before-1").length === 1 && (await queueDepth()) === 0, "a first turn", 30_000);
    await suite.bus.push(createEvent("build.done", "ci", {}, { id: "killed-1" }));
    await suite.llm.waitForRequest((r) => r.lastUserText.includes("event-id: `killed-1`"), 15_000);
    await sleep(500);
    await first.kill();
    await daemon();
    await waitFor(() => requestsFor("killed-1").length === 2, "replayed", 30_000);
    await waitFor(async () => (await queueDepth()) === 0, "completed", 15_000);
    const sessions = join(suite.piEnv.agentDir, "sessions");
    assert.equal(recordedEventIds(sessions).get("killed-1"), 1, "recorded once in the session");
    assert.ok(
      gatewayDetailsIn(sessions).some((d) => Array.isArray(d.again) && d.again.includes("killed-1")),
      "the replay names it as shown again",
    );
  });
});
