import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import { test } from "node:test";
import type { GatewayBus } from "../../src/bus/bus.js";
import { CommandQueue, type CommandQueueOptions, type QueuedCommand } from "../../src/daemon/command-queue.js";
import type { InboundMessage } from "../../src/daemon/types.js";
import { useRedisBus } from "../helpers/redis-bus.js";
import { sleep } from "../helpers/wait.js";

let bus: GatewayBus;
/** The bus's own client, for checking what landed in Redis. */
let client: Redis;
useRedisBus({ aof: true, flushEach: true, bus: { prefix: "agent", dedupWindowMs: 60_000, deadLetterCap: 100, journalCap: 100 } }, (_redis, b) => {
  bus = b;
  client = b.client as Redis;
});
const options = { agingMs: 60_000, collectWindowMs: 200, session: "gateway" };

/** A queue built the way the daemon builds it: the bus's store for the session, the policy on top. */
function newQueue(settings: CommandQueueOptions & { session: string }): CommandQueue {
  return new CommandQueue(bus.commandQueue(settings.session), settings);
}

const msg = (id: string, priority: InboundMessage["priority"], extra: Partial<InboundMessage> = {}): InboundMessage => ({
  id,
  channel: "test",
  text: id,
  priority,
  ...extra,
});

async function drain(queue: CommandQueue): Promise<string[]> {
  const order: string[] = [];
  for (;;) {
    const command = await queue.take();
    if (!command) return order;
    order.push(command.message.id);
    await queue.complete(command);
  }
}

test("human before event before heartbeat; duplicates refused", async () => {
  const queue = newQueue(options);
  await queue.init();
  await queue.submit(msg("hb", "heartbeat"));
  await queue.submit(msg("ev1", "event"));
  await queue.submit(msg("h1", "human"));
  await queue.submit(msg("ev2", "event"));
  assert.equal(await queue.submit(msg("h1", "human")), "duplicate");
  assert.deepEqual(await queue.depth(), { human: 1, event: 2, heartbeat: 1 });
  // ev1 and ev2 wait together: one event turn.
  assert.deepEqual(await drain(queue), ["h1", "ev1", "hb"]);
  assert.deepEqual(await queue.depth(), { human: 0, event: 0, heartbeat: 0 });
});

test("aging: a command that waited past the limit goes before fresher higher-priority ones (no starvation)", async () => {
  const queue = newQueue({ ...options, agingMs: 150 });
  await queue.init();
  await queue.submit(msg("old-event", "event"));
  await sleep(200);
  await queue.submit(msg("new-human", "human"));
  assert.deepEqual(await drain(queue), ["old-event", "new-human"]);
});

test("a command taken but not completed is replayed by the next process, and flagged as a replay", async () => {
  const first = newQueue(options);
  await first.init();
  await first.submit(msg("mid-turn", "human"));
  await first.submit(msg("next", "human"));
  const taken = await first.take();
  assert.equal(taken!.message.id, "mid-turn");
  assert.equal(taken!.replayed, false);
  // "crash": no complete(). A new process:
  const second = newQueue(options);
  assert.ok((await second.init()) >= 1);
  const replay = await second.take();
  assert.equal(replay!.message.id, "mid-turn");
  assert.equal(replay!.replayed, true);
  assert.equal(await second.alreadyAnswered(replay!), false);
  await second.complete(replay!);
  assert.deepEqual(await drain(second), ["next"]);
  assert.equal(await second.submit(msg("mid-turn", "human")), "duplicate", "dedup survives the restart");
});

test("batch ids: a command can stand for several event ids; seen() answers for each", async () => {
  const queue = newQueue(options);
  await queue.init();
  await queue.submit(msg("events:a", "event"), ["event:a", "event:b"]);
  assert.deepEqual([...(await queue.seen(["event:a", "event:b", "event:c"]))], ["event:a", "event:b"]);
});

test("collect mode: messages from one source within the window are merged into one command", async () => {
  const queue = newQueue(options);
  await queue.init();
  const replyTo = { channel: "telegram", to: "42" };
  await queue.submit(msg("c1", "human", { mode: "collect", replyTo, text: "first" }));
  await queue.submit(msg("other", "human", { replyTo: { channel: "telegram", to: "7" } }));
  await queue.submit(msg("c2", "human", { mode: "collect", replyTo, text: "second" }));
  const merged = await queue.take();
  assert.equal(merged!.message.text, "first\n\nsecond");
  assert.deepEqual(
    merged!.entries.map((e) => e.id),
    ["c1", "c2"],
  );
  await queue.complete(merged!);
  assert.deepEqual(await drain(queue), ["other"]);
});

test("a failed command waits for its retry time without holding up others; wait and attempt count survive a restart", async () => {
  const queue = newQueue(options);
  await queue.init();
  await queue.submit(msg("flaky", "human"));
  await queue.submit(msg("second", "human"));
  const failed = (await queue.take())!;
  assert.equal(failed.message.id, "flaky");
  assert.equal(failed.attempts, 0);
  await queue.begin(failed);
  await queue.retryLater(failed, { attempts: 1, notBefore: Date.now() + 400, error: "503 unavailable" }, "retry 1 of 5 in 400ms: 503 unavailable");
  // Another process (a restart) sees the same wait and the same count.
  const restarted = newQueue(options);
  await restarted.init();
  const other = (await restarted.take())!;
  assert.equal(other.message.id, "second", "the next command runs while the failed one waits");
  await restarted.complete(other);
  assert.equal(await restarted.take(), undefined, "nothing due yet");
  await sleep(450);
  const retried = (await restarted.take())!;
  assert.equal(retried.message.id, "flaky");
  assert.equal(retried.attempts, 1);
  assert.equal(retried.lastError, "503 unavailable");
  assert.equal(retried.interruptedAt, undefined, "a failure ended its turn: not an interrupted one");
  const [entry] = await client.xrange("agent:gateway:journal", "-", "+");
  assert.deepEqual(entry![1], ["kind", "retry", "id", "flaky", "sessions", "gateway", "reason", "retry 1 of 5 in 400ms: 503 unavailable"]);
  await restarted.complete(retried);
  assert.equal(await client.hlen("agent:daemon:retry"), 0, "complete clears the retry state");
});

test("dead-lettering a command: on the gateway's dead-letter list and journal with the reason, out of the queue", async () => {
  const queue = newQueue(options);
  await queue.init();
  await queue.submit(msg("doomed", "event", { text: "the events" }));
  const command = (await queue.take())!;
  await queue.begin(command);
  await queue.retryLater(command, { attempts: 1, notBefore: 0, error: "503" }, "retry 1");
  await queue.deadLetter(command, "turn failed: 400 bad request");
  const [letter] = (await client.lrange("agent:gateway:deadletter", 0, -1)).map((raw) => JSON.parse(raw) as Record<string, unknown>);
  assert.equal(letter!.reason, "turn failed: 400 bad request");
  assert.equal(letter!.session, "gateway");
  assert.equal(letter!.id, "doomed");
  assert.equal((JSON.parse(letter!.raw as string) as { text: string }).text, "the events");
  assert.equal(typeof letter!.at, "number");
  const journal = await client.xrange("agent:gateway:journal", "-", "+");
  assert.deepEqual(journal.at(-1)![1], ["kind", "dead-letter", "id", "doomed", "sessions", "gateway", "reason", "turn failed: 400 bad request"]);
  assert.deepEqual(await queue.depth(), { human: 0, event: 0, heartbeat: 0 });
  assert.equal(await client.hlen("agent:daemon:retry"), 0);
  assert.equal(await client.hlen("agent:daemon:started"), 0);
  assert.equal(await queue.take(), undefined);
});

test("a replay knows whether its turn had started: begin() records when, a command only taken does not", async () => {
  const first = newQueue(options);
  await first.init();
  await first.submit(msg("started", "human"));
  await first.submit(msg("only-taken", "event"));
  const running = (await first.take())!; // reads the head of every priority, runs the human one
  assert.equal(running.message.id, "started");
  const before = Date.now();
  await first.begin(running);
  // crash: no complete()
  const second = newQueue(options);
  assert.equal(await second.init(), 2, "both were in the pending list");
  const replay = (await second.take())!;
  assert.equal(replay.message.id, "started");
  assert.ok(replay.interruptedAt! >= before - 5 && replay.interruptedAt! <= Date.now());
  await second.begin(replay);
  assert.equal((await second.take())!.interruptedAt, replay.interruptedAt, "a second interruption keeps the first start time");
  await second.complete(replay);
  const untouched = (await second.take())!;
  assert.equal(untouched.message.id, "only-taken");
  assert.equal(untouched.replayed, true);
  assert.equal(untouched.interruptedAt, undefined, "never started: runs as new");
});

test("a daemon with its own GATEWAY_ID has its own queue; the default id keeps the original key names", async () => {
  const main = newQueue(options);
  const other = newQueue({ ...options, session: "other" });
  await main.init();
  await other.init();
  await main.submit(msg("for-main", "human"));
  await other.submit(msg("for-other", "human"));
  assert.equal(await client.xlen("agent:daemon:queue:human"), 1, "default id: original key");
  assert.equal(await client.xlen("agent:daemon:other:queue:human"), 1);
  assert.deepEqual(await drain(other), ["for-other"], "two daemons never take each other's commands");
  assert.deepEqual(await drain(main), ["for-main"]);
});

const eventMsg = (id: string, events = 1, extra: Partial<InboundMessage> = {}): InboundMessage =>
  msg(id, "event", {
    channel: "redis",
    text: `prompt of ${id}`,
    meta: { types: Array.from({ length: events }, () => `t.${id}`).join(","), sources: "cron", events: String(events) },
    ...extra,
  });

test("batching: every event command waiting when an event turn starts becomes one turn; completed together in one step", async () => {
  const queue = newQueue(options);
  await queue.init();
  for (let i = 1; i <= 5; i += 1) await queue.submit(eventMsg(`ev${i}`, 2));
  await queue.submit(msg("later-human", "human"));
  const human = (await queue.take())!;
  assert.equal(human.message.id, "later-human", "humans still go first");
  await queue.complete(human);
  const batch = (await queue.take())!;
  assert.deepEqual(
    batch.entries.map((e) => e.id),
    ["ev1", "ev2", "ev3", "ev4", "ev5"],
  );
  assert.match(batch.message.text, /^# 10 gateway events in 5 deliveries, oldest first\n\nprompt of ev1\n\nprompt of ev2/);
  for (let i = 1; i <= 5; i += 1) assert.equal(batch.message.text.split(`prompt of ev${i}`).length, 2, `ev${i} once`);
  assert.equal(batch.message.meta?.events, "10");
  assert.deepEqual(batch.message.meta?.types?.split(",").length, 10);
  await queue.begin(batch);
  assert.equal(await client.hlen("agent:daemon:started"), 5, "begin marks every command of the batch");
  await queue.complete(batch);
  assert.deepEqual(await queue.depth(), { human: 0, event: 0, heartbeat: 0 });
  assert.equal(await client.hlen("agent:daemon:started"), 0);
  assert.equal(await client.zcard("agent:daemon:done"), 6);
  assert.deepEqual((await client.xpending("agent:daemon:queue:event", "daemon"))[0], 0, "all acknowledged");
  const load = await queue.load();
  assert.equal(load.turns, 2);
  assert.equal(load.eventsPerTurn, 10, "the human turn carries no events and does not count");
});

test("batching caps: events per turn and prompt bytes; the first command goes whole; the rest waits for the next turn", async () => {
  const byCount = newQueue({ ...options, turnMaxEvents: 5 });
  await byCount.init();
  await byCount.submit(eventMsg("big", 7));
  for (const id of ["a", "b", "c", "d"]) await byCount.submit(eventMsg(id, 2));
  const ids = async (q: CommandQueue) => {
    const c = (await q.take())!;
    await q.complete(c);
    return c.entries.map((e) => e.id);
  };
  assert.deepEqual(await ids(byCount), ["big"], "over the cap alone: taken whole, nothing joins");
  assert.deepEqual(await ids(byCount), ["a", "b"], "2 + 2 fit in 5, a third would not");
  assert.deepEqual(await ids(byCount), ["c", "d"]);
  assert.equal(await byCount.take(), undefined);

  await client.flushall();
  const byBytes = newQueue({ ...options, turnMaxBytes: 30 });
  await byBytes.init();
  for (const id of ["x1", "x2", "x3"]) await byBytes.submit(eventMsg(id, 1, { text: "0123456789abc" })); // 13 bytes each
  assert.deepEqual(await ids(byBytes), ["x1", "x2"], "26 bytes fit in 30, 39 would not");
  assert.deepEqual(await ids(byBytes), ["x3"]);

  // The model's window caps it too: a quarter of 30 tokens is about 30 bytes.
  await client.flushall();
  const byWindow = newQueue(options);
  byWindow.fitTurnsToWindow(30);
  await byWindow.init();
  for (const id of ["w1", "w2", "w3"]) await byWindow.submit(eventMsg(id, 1, { text: "0123456789abc" }));
  assert.deepEqual(await ids(byWindow), ["w1", "w2"], "26 bytes fit in a 30-token window's share, 39 would not");
  assert.deepEqual(await ids(byWindow), ["w3"]);
});

test("batching leaves out collect-mode commands and commands that answer somewhere else", async () => {
  const queue = newQueue({ ...options, collectWindowMs: 10 });
  await queue.init();
  await queue.submit(eventMsg("e1"));
  await queue.submit(eventMsg("hook", 1, { replyTo: { channel: "http", to: "caller" } }));
  await queue.submit(eventMsg("e2"));
  const batch = (await queue.take())!;
  assert.deepEqual(
    batch.entries.map((e) => e.id),
    ["e1", "e2"],
  );
  await queue.complete(batch);
  assert.deepEqual(
    (await queue.take())!.entries.map((e) => e.id),
    ["hook"],
  );
});

test("a batch interrupted by a crash is replayed whole, with the time its turn started; events queued since run next, as new", async () => {
  const first = newQueue(options);
  await first.init();
  await first.submit(eventMsg("r1"));
  await first.submit(eventMsg("r2"));
  const batch = (await first.take())!;
  await first.begin(batch);
  // kill -9: no complete. An event arrives before the restart.
  await first.submit(eventMsg("r3"));
  const second = newQueue(options);
  assert.equal(await second.init(), 2);
  const replay = (await second.take())!;
  assert.deepEqual(
    replay.entries.map((e) => e.id),
    ["r1", "r2"],
  );
  assert.equal(replay.replayed, true);
  assert.ok(replay.interruptedAt !== undefined, "the note says the agent saw it");
  await second.complete(replay);
  const next = (await second.take())!;
  assert.deepEqual(
    next.entries.map((e) => e.id),
    ["r3"],
  );
  assert.equal(next.interruptedAt, undefined, "never shown: no note");
  await second.complete(next);
  assert.equal(await second.take(), undefined, "nothing runs twice");
});

test("fairness: while humans wait, aged events get at most one turn between two human turns, and still are never starved", async () => {
  const queue = newQueue({ ...options, agingMs: 20, turnMaxEvents: 1 });
  await queue.init();
  for (const id of ["e1", "e2", "e3"]) await queue.submit(eventMsg(id));
  for (const id of ["h1", "h2"]) await queue.submit(msg(id, "human"));
  await sleep(40);
  // Before: e1, e2, e3, h1, h2 (every aged command first, oldest first).
  assert.deepEqual(await drain(queue), ["e1", "h1", "e2", "h2", "e3"]);
});

test("fairness: a steady stream of humans still lets an aged event through every other turn", async () => {
  const queue = newQueue({ ...options, agingMs: 20 });
  await queue.init();
  await queue.submit(eventMsg("old-event"));
  await sleep(40);
  const order: string[] = [];
  for (let i = 0; i < 3; i += 1) {
    await queue.submit(msg(`h${i}`, "human"));
    const c: QueuedCommand = (await queue.take())!;
    order.push(c.message.id);
    await queue.complete(c);
  }
  assert.deepEqual(order, ["old-event", "h0", "h1"]);
});

test("load figures: depth per priority, the oldest waiting event's age, turns in the window", async () => {
  const queue = newQueue(options);
  await queue.init();
  const empty = await queue.load();
  assert.deepEqual(empty, {
    depth: { human: 0, event: 0, heartbeat: 0 },
    oldestEventAgeMs: null,
    windowSeconds: 60,
    turns: 0,
    turnsPerSecond: 0,
    eventsPerTurn: null,
  });
  await queue.submit(eventMsg("waiting", 3));
  await queue.submit(msg("h", "human"));
  await sleep(50);
  const load = await queue.load();
  assert.deepEqual(load.depth, { human: 1, event: 1, heartbeat: 0 });
  assert.ok(load.oldestEventAgeMs! >= 50 && load.oldestEventAgeMs! < 5_000, String(load.oldestEventAgeMs));
  await drain(queue);
  const after = await queue.load();
  assert.equal(after.oldestEventAgeMs, null);
  assert.equal(after.turns, 2);
  assert.equal(after.turnsPerSecond, 0.03);
  assert.equal(after.eventsPerTurn, 3);
});

test("queued prompts are capped per client and per channel; refused ones are not stored; the cap frees as commands end", async () => {
  const queue = newQueue({ ...options, promptsPerClient: 2, promptsPerChannel: 3 });
  await queue.init();
  const from = (id: string, to: string, channel = "websocket") => msg(id, "human", { channel, replyTo: { channel, to } });
  await queue.submit(from("a1", "alice"));
  await queue.submit(from("a2", "alice"));
  assert.equal(await queue.submit(from("a1", "alice")), "duplicate", "a duplicate is not counted or refused");
  await assert.rejects(queue.submit(from("a3", "alice")), (error: Error & { code?: string }) => {
    assert.equal(error.code, "QUOTA_EXCEEDED");
    assert.match(error.message, /this client has 2 queued \(GATEWAY_PROMPTS_PER_CLIENT\)/);
    return true;
  });
  await queue.submit(from("b1", "bob"));
  await assert.rejects(queue.submit(from("c1", "carol")), /on websocket: 3 queued \(GATEWAY_PROMPTS_PER_CHANNEL\)/);
  await queue.submit(from("t1", "dave", "telegram"));
  await queue.submit(msg("ev", "event"));
  assert.deepEqual(await queue.depth(), { human: 4, event: 1, heartbeat: 0 }, "the refused prompts were never stored");
  const first = await queue.take();
  assert.equal(first?.message.id, "a1");
  await queue.complete(first!);
  await queue.submit(from("a3", "alice"));
  const next = await queue.take();
  await queue.deadLetter(next!, "gave up");
  await queue.submit(from("c1", "carol"));
});

test("a turn shows its oldest commands whole up to GATEWAY_TURN_SHOWN_EVENTS and sums up the rest: the prompt stops growing, the record does not", async () => {
  const queue = newQueue({ ...options, turnShownEvents: 50, turnMaxBytes: 16 * 1024 });
  await queue.init();
  const ids = (c: string) => Array.from({ length: 30 }, (_, i) => `${c}-${i}`);
  for (const c of ["a", "b", "c", "d"]) {
    const gateway = {
      kind: "events" as const,
      batch: "",
      ids: ids(c),
      count: 30,
      types: [`t.${c}`],
      sources: ["cron"],
      events: [{ id: `${c}-0`, type: `t.${c}`, source: "cron", ts: 0 }],
    };
    // As the daemon stores a drained batch: one type and one source per event in its meta.
    const meta = { types: Array(30).fill(`t.${c}`).join(","), sources: Array(30).fill("cron").join(","), events: "30" };
    await queue.submit(eventMsg(c, 30, { text: `prompt of ${c} `.padEnd(5_000, "."), gateway, meta }));
  }
  const batch = (await queue.take())!;
  // Whole, 4 × 5,000 bytes would pass the 16 KiB cap at the fourth: summed up, they all fit.
  assert.deepEqual(
    batch.entries.map((e) => e.id),
    ["a", "b", "c", "d"],
  );
  const { text } = batch.message;
  assert.ok(text.includes("prompt of a") && !/prompt of [bcd]/.test(text), "only the first command whole (30 + 30 > 50)");
  assert.match(text, /^# 120 gateway events in 4 deliveries, oldest first\n/);
  assert.match(
    text,
    /\n### … and 90 more events, summed up \(not shown one by one\)\nids: `b-0` … `d-29`\nby type: `t\.b` ×30, `t\.c` ×30, `t\.d` ×30\nby source: `cron` ×90\n/,
  );
  assert.ok(text.length < 6_000, `prompt ${text.length} bytes`);
  const details = batch.message.gateway!;
  assert.deepEqual(details.ids, [...ids("a"), ...ids("b"), ...ids("c"), ...ids("d")], "every event recorded");
  assert.equal(details.count, 120);
  assert.deepEqual(
    details.events?.map((e) => e.id),
    ["a-0"],
    "summaries only of what the prompt shows",
  );
  assert.deepEqual(details.types, ["t.a", "t.b", "t.c", "t.d"]);
});
