/**
 * Events batched into turns (issue #13), end to end: the built daemon as a child process with the
 * real pi SDK against the fake LLM. Event commands that wait while a turn runs become ONE turn,
 * with one origin record naming every command; a batch interrupted by kill -9 is replayed once,
 * whole, with the "interrupted" note; a human prompt waits at most one event turn even when the
 * events waiting are older than GATEWAY_AGING; the load figures are in /api/status, /metrics and
 * `pi-gateway status`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { beforeEach, describe, test } from "node:test";
import { WebSocket } from "ws";
import type { HistoryItem } from "../../src/daemon/history.js";
import type { DaemonStatus } from "../../src/daemon/types.js";
import type { ServerMessage } from "../../src/daemon/ws-protocol.js";
import { createEvent } from "../../src/protocol/event.js";
import { runCli } from "../helpers/cli.js";
import type { FakeLlmRequest } from "../helpers/fake-llm.js";
import { usePiSuite } from "../helpers/pi-suite.js";
import { recordedEventIds } from "../helpers/session-records.js";
import { sleep, waitFor } from "../helpers/wait.js";

const TOKEN = "batching-test-token-0123456789abcdef";
const REPLAY_NOTE = /^⚠️ The gateway restarted while you were working on the request below \(shown to you at \S+\); that turn was interrupted/;

const sockets: WebSocket[] = [];

const suite = usePiSuite({
  aof: true,
  flushEach: true,
  piEnv: { settings: { retry: { enabled: false, provider: { maxRetries: 0 } } } },
  token: TOKEN,
  // The sockets close before the daemons are killed.
  beforeEnd: () => {
    for (const s of sockets.splice(0)) s.close();
  },
});
/** Requests of earlier tests are not this test's (the fake LLM is shared by the suite). */
let testStart = 0;
let testSeq = 0;
beforeEach(() => {
  testStart = suite.llm.chatRequests().length;
  testSeq = suite.llm.requests.at(-1)?.seq ?? 0;
});
const { daemon } = suite;

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
    prompt(text: string): string {
      const id = crypto.randomUUID();
      socket.send(JSON.stringify({ type: "prompt", id, text }));
      return `ws:${id}`;
    },
    ended: (requestId: string) => messages.find((m) => m.type === "end" && "requestId" in m && m.requestId === requestId),
    messages,
  };
}

const slow = (words: number, chunkDelayMs = 100) => ({ text: Array.from({ length: words }, (_, i) => `w${i}`).join(" "), chunkDelayMs });
const requests = (from = testStart): FakeLlmRequest[] => suite.llm.chatRequests().slice(from);
const requestsFor = (needle: string, from = testStart): FakeLlmRequest[] => requests(from).filter((r) => r.lastUserText.includes(`event-id: \`${needle}\``));
const eventDepth = () => suite.bus.client.xlen("agent:daemon:queue:event");

async function api<T>(url: string, path: string): Promise<T> {
  const response = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(response.status, 200, await response.clone().text());
  return (path === "/metrics" ? await response.text() : await response.json()) as T;
}

/** Pushes events one at a time with a gap, so the bus hands them to the daemon as separate deliveries. */
async function pushSpaced(ids: string[], gapMs: number): Promise<void> {
  for (const id of ids) {
    await suite.bus.push(createEvent("job.done", "cron", { id }, { id }));
    await sleep(gapMs);
  }
}

describe("daemon: events batched into turns", () => {
  test("the event commands waiting when a turn ends become one turn, one origin record naming them all; shown in status and /metrics", async () => {
    suite.llm.setResponder((r) => (r.lastUserText.includes("long question") ? slow(60) : { text: "noted" }));
    const d = await daemon();
    const ws = await wsClient(d.url);
    const asked = ws.prompt("long question");
    await suite.llm.waitForRequest((r) => r.seq > testSeq && r.lastUserText.includes("long question"), 15_000);
    const ids = Array.from({ length: 12 }, (_, i) => `batch-${i}`);
    await pushSpaced(ids, 60);
    await waitFor(async () => (await eventDepth()) >= 2, "several event commands queued", 10_000);
    // The last pushes may still be on their way into the daemon's queue: read the depth once it holds still.
    let commands = await eventDepth();
    await waitFor(
      async () => {
        await sleep(300);
        const now = await eventDepth();
        const settled = now === commands;
        commands = now;
        return settled;
      },
      "the queue depth settled",
      10_000,
    );

    // While the human turn runs, the queue shows the waiting events.
    const during = await api<{ daemon: DaemonStatus }>(d.url, "/api/status");
    assert.equal(during.daemon.queue.event, commands);
    assert.ok(during.daemon.load!.oldestEventAgeMs! > 0, "the oldest waiting event has an age");
    assert.match(await api<string>(d.url, "/metrics"), new RegExp(`^pi_gateway_queue_depth\\{priority="event"\\} ${commands}$`, "m"));

    await waitFor(() => ws.ended(asked) !== undefined, "the human turn ended", 20_000);
    await waitFor(() => ids.every((id) => requestsFor(id).length > 0), "every event reached the LLM", 20_000);
    const eventTurns = requests().filter((r) => r.lastUserText.includes("event-id:"));
    assert.equal(eventTurns.length, 1, `one turn for ${commands} event commands (got ${eventTurns.length})`);
    assert.match(eventTurns[0]!.lastUserText, new RegExp(`^# 12 gateway events in ${commands} deliveries, oldest first`));
    for (const id of ids) assert.equal(eventTurns[0]!.lastUserText.split(`event-id: \`${id}\``).length, 2, `${id} shown once`);
    await waitFor(async () => (await eventDepth()) === 0, "the batch completed", 10_000);

    const { items } = await api<{ items: HistoryItem[] }>(d.url, "/api/history");
    const prompt = items.find((i) => i.kind === "prompt" && i.origin?.kind === "event");
    assert.ok(prompt?.kind === "prompt" && prompt.origin);
    assert.equal(prompt.origin.requestIds?.length, commands, "the origin names every command of the batch");
    assert.equal(prompt.origin.requestIds?.[0], prompt.origin.requestId);
    assert.equal(prompt.origin.types?.length, 12);

    const after = await api<{ daemon: DaemonStatus }>(d.url, "/api/status");
    assert.deepEqual(after.daemon.load, { ...after.daemon.load, oldestEventAgeMs: null, turns: 2, eventsPerTurn: 12 });
    const metrics = await api<string>(d.url, "/metrics");
    assert.match(metrics, /^pi_gateway_events_per_turn 12$/m);
    assert.match(metrics, /^pi_gateway_oldest_event_age_seconds 0$/m);
    assert.match(metrics, /^# TYPE pi_gateway_turns_processed_total counter$/m);
    // The counters the daemon feeds: the 12 events taken in, the human turn and the one event turn timed.
    assert.ok(Number(/^pi_gateway_events_delivered_total (\d+)$/m.exec(metrics)?.[1]) >= 12, "events delivered counted");
    assert.match(metrics, /^pi_gateway_turn_duration_seconds_count\{priority="event"\} 1$/m);
    assert.match(metrics, /^pi_gateway_turn_duration_seconds_count\{priority="human"\} 1$/m);
    assert.match(metrics, /^process_resident_memory_bytes \d+/m);
    assert.equal((await fetch(`${d.url}/metrics`)).status, 401, "token-protected");
    assert.equal((await fetch(`${d.url}/metrics?token=wrong`)).status, 401);
    const cli = await runCli(["status", "--redis-url", suite.redis.url]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /^daemon queue human=0 {2}event=0 {2}heartbeat=0; no event waiting; 0\.03 turns\/s, 12 events\/turn \(last 60s\)$/m);
    const json = JSON.parse((await runCli(["status", "--json", "--redis-url", suite.redis.url])).stdout) as { daemonQueue: { eventsPerTurn: number } };
    assert.equal(json.daemonQueue.eventsPerTurn, 12);
  });

  test("GATEWAY_TURN_MAX_EVENTS caps a turn; the rest is the next turn; nothing lost or shown twice", async () => {
    suite.llm.setResponder((r) => (r.lastUserText.includes("long question") ? slow(20) : { text: "noted" }));
    const d = await daemon({ GATEWAY_TURN_MAX_EVENTS: "3" });
    const ws = await wsClient(d.url);
    ws.prompt("long question");
    await suite.llm.waitForRequest((r) => r.seq > testSeq && r.lastUserText.includes("long question"), 15_000);
    const ids = Array.from({ length: 7 }, (_, i) => `cap-${i}`);
    await pushSpaced(ids, 60);
    await waitFor(() => ids.every((id) => requestsFor(id).length > 0), "every event reached the LLM", 30_000);
    for (const id of ids) assert.equal(requestsFor(id).length, 1, `${id} once`);
    const turns = requests().filter((r) => r.lastUserText.includes("event-id:"));
    for (const turn of turns) assert.ok(turn.lastUserText.split("event-id:").length - 1 <= 3, "at most 3 events per turn");
    assert.ok(turns.length >= 3);
  });

  test("kill -9 mid-turn of a batch: after the restart its events are shown once, together, with the interrupted note; none lost, none run as new", async () => {
    suite.llm.setResponder((r) => (r.lastUserText.includes("long question") ? slow(15) : r.lastUserText.includes("event-id:") ? slow(60) : { text: "ok" }));
    const first = await daemon();
    const ws = await wsClient(first.url);
    ws.prompt("long question");
    await suite.llm.waitForRequest((r) => r.seq > testSeq && r.lastUserText.includes("long question"), 15_000);
    const ids = Array.from({ length: 6 }, (_, i) => `crash-${i}`);
    await pushSpaced(ids, 60);
    await waitFor(async () => (await eventDepth()) >= 2, "several event commands queued", 10_000);
    const batchTurn = await suite.llm.waitForRequest((r) => r.seq > testSeq && r.lastUserText.includes("event-id:"), 20_000);
    for (const id of ids) assert.ok(batchTurn.lastUserText.includes(`event-id: \`${id}\``), `${id} in the batch`);
    await sleep(500);
    await first.kill();
    // Pushed while the daemon is down: never shown, so not part of the replay.
    const later = ["after-crash-0", "after-crash-1"];
    await pushSpaced(later, 10);

    const since = suite.llm.chatRequests().length; // requests(since): after the restart
    await daemon();
    await waitFor(() => [...ids, ...later].every((id) => requestsFor(id, since).length > 0), "the batch replayed, the later events run", 30_000);
    await waitFor(async () => (await eventDepth()) === 0, "the replay completed", 20_000);
    const replays = requests(since).filter((r) => ids.some((id) => r.lastUserText.includes(`event-id: \`${id}\``)));
    assert.equal(replays.length, 1, "one replay turn");
    assert.match(replays[0]!.lastUserText, REPLAY_NOTE);
    for (const id of ids) assert.equal(requestsFor(id, since).length, 1, `${id} shown once after the restart`);
    for (const id of later) {
      const shown = requestsFor(id, since);
      assert.equal(shown.length, 1, `${id} shown once`);
      assert.doesNotMatch(shown[0]!.lastUserText, /Replayed/, `${id} runs as new, without the note`);
    }
  });

  test("a batch answered in the session whose completion Redis refused: taken again, recognised by the ids in its message's details, completed without a second turn", async () => {
    suite.llm.setResponder((r) => (r.lastUserText.includes("event-id:") ? slow(10) : { text: "ok" }));
    const d = await daemon();
    const ws = await wsClient(d.url);
    await suite.bus.push(createEvent("job.done", "cron", { n: 1 }, { id: "done-1" }));
    await suite.llm.waitForRequest((r) => r.seq > testSeq && r.lastUserText.includes("event-id: `done-1`"), 15_000);
    // Redis refuses every write while the reply streams: the turn ends in the session, its bookkeeping fails.
    await suite.bus.client.config("SET", "min-replicas-to-write", "1");
    try {
      await waitFor(() => d.output().includes("could not record the outcome of a turn"), "the completion refused", 15_000);
    } finally {
      await suite.bus.client.config("SET", "min-replicas-to-write", "0");
    }
    await waitFor(() => d.output().includes("already answered in the session"), "recognised from the session", 15_000);
    await waitFor(async () => (await eventDepth()) === 0, "completed", 15_000);
    await sleep(500);
    assert.equal(requestsFor("done-1").length, 1, "the model was asked once");
    assert.equal(recordedEventIds(join(suite.piEnv.agentDir, "sessions")).get("done-1"), 1, "one gateway message in the session");
    const ends = ws.messages.filter((m) => m.type === "end" && m.requestId === "events:done-1");
    assert.ok(ends.length >= 1 && ends.every((m) => m.type === "end" && m.text === slow(10).text), JSON.stringify(ends));
  });

  test("a human prompt waits at most one event turn, even behind events older than GATEWAY_AGING", async () => {
    // Every event turn is slow (~0.8 s); events keep coming; the aging limit is short.
    suite.llm.setResponder((r) => (r.lastUserText.includes("event-id:") ? slow(8) : { text: "hi" }));
    const d = await daemon({ GATEWAY_AGING: "200ms", GATEWAY_TURN_MAX_EVENTS: "1" });
    const ws = await wsClient(d.url);
    let producing = true;
    const producer = (async () => {
      for (let i = 0; producing; i += 1) {
        await suite.bus.push(createEvent("tick", "load", {}, { id: `tick-${i}` }));
        await sleep(100);
      }
    })();
    const latencies: number[] = [];
    try {
      await waitFor(async () => (await eventDepth()) >= 5, "a backlog older than the aging limit", 20_000);
      await sleep(300);
      for (let i = 0; i < 3; i += 1) {
        const started = Date.now();
        const id = ws.prompt(`question ${i}`);
        await waitFor(() => ws.ended(id) !== undefined, `prompt ${i} answered`, 20_000);
        latencies.push(Date.now() - started);
      }
    } finally {
      producing = false;
      await producer;
    }
    // Before: every aged event went first, so each prompt waited behind the whole backlog (≥ 5 turns of 0.8 s).
    for (const ms of latencies) assert.ok(ms < 2_500, `answered within about one event turn: ${latencies.join(", ")} ms`);
  });
});
