import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { after, before, beforeEach, test } from "node:test";
import { CommandQueue } from "../../src/daemon/command-queue.js";
import type { InboundMessage } from "../../src/daemon/types.js";
import { startRedis, type RedisServer } from "../helpers/redis-server.js";
import { sleep } from "../helpers/wait.js";

let redis: RedisServer;
let client: Redis;
const options = { prefix: "agent", dedupWindowMs: 60_000, agingMs: 60_000, collectWindowMs: 200, session: "gateway", deadLetterCap: 100, journalCap: 100 };

before(async () => {
  redis = await startRedis({ aof: true });
  client = new Redis(redis.url);
});
after(async () => {
  client.disconnect();
  await redis.stop();
});
beforeEach(async () => {
  await client.flushall();
});

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
  const queue = new CommandQueue(client, options);
  await queue.init();
  await queue.submit(msg("hb", "heartbeat"));
  await queue.submit(msg("ev1", "event"));
  await queue.submit(msg("h1", "human"));
  await queue.submit(msg("ev2", "event"));
  assert.equal(await queue.submit(msg("h1", "human")), "duplicate");
  assert.deepEqual(await queue.depth(), { human: 1, event: 2, heartbeat: 1 });
  assert.deepEqual(await drain(queue), ["h1", "ev1", "ev2", "hb"]);
  assert.deepEqual(await queue.depth(), { human: 0, event: 0, heartbeat: 0 });
});

test("aging: a command that waited past the limit goes before fresher higher-priority ones (no starvation)", async () => {
  const queue = new CommandQueue(client, { ...options, agingMs: 150 });
  await queue.init();
  await queue.submit(msg("old-event", "event"));
  await sleep(200);
  await queue.submit(msg("new-human", "human"));
  assert.deepEqual(await drain(queue), ["old-event", "new-human"]);
});

test("a command taken but not completed is replayed by the next process, and flagged as a replay", async () => {
  const first = new CommandQueue(client, options);
  await first.init();
  await first.submit(msg("mid-turn", "human"));
  await first.submit(msg("next", "human"));
  const taken = await first.take();
  assert.equal(taken!.message.id, "mid-turn");
  assert.equal(taken!.replayed, false);
  // "crash": no complete(). A new process:
  const second = new CommandQueue(client, options);
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
  const queue = new CommandQueue(client, options);
  await queue.init();
  await queue.submit(msg("events:a", "event"), ["event:a", "event:b"]);
  assert.deepEqual([...(await queue.seen(["event:a", "event:b", "event:c"]))], ["event:a", "event:b"]);
});

test("collect mode: messages from one source within the window are merged into one command", async () => {
  const queue = new CommandQueue(client, options);
  await queue.init();
  const replyTo = { channel: "telegram", to: "42" };
  await queue.submit(msg("c1", "human", { mode: "collect", replyTo, text: "first" }));
  await queue.submit(msg("other", "human", { replyTo: { channel: "telegram", to: "7" } }));
  await queue.submit(msg("c2", "human", { mode: "collect", replyTo, text: "second" }));
  const merged = await queue.take();
  assert.equal(merged!.message.text, "first\n\nsecond");
  assert.deepEqual(merged!.entries.map((e) => e.id), ["c1", "c2"]);
  await queue.complete(merged!);
  assert.deepEqual(await drain(queue), ["other"]);
});

test("a failed command waits for its retry time without holding up others; wait and attempt count survive a restart", async () => {
  const queue = new CommandQueue(client, options);
  await queue.init();
  await queue.submit(msg("flaky", "human"));
  await queue.submit(msg("second", "human"));
  const failed = (await queue.take())!;
  assert.equal(failed.message.id, "flaky");
  assert.equal(failed.attempts, 0);
  await queue.begin(failed);
  await queue.retryLater(failed, { attempts: 1, notBefore: Date.now() + 400, error: "503 unavailable" }, "retry 1 of 5 in 400ms: 503 unavailable");
  // Another process (a restart) sees the same wait and the same count.
  const restarted = new CommandQueue(client, options);
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
  const queue = new CommandQueue(client, options);
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
  const first = new CommandQueue(client, options);
  await first.init();
  await first.submit(msg("started", "human"));
  await first.submit(msg("only-taken", "event"));
  const running = (await first.take())!; // reads the head of every priority, runs the human one
  assert.equal(running.message.id, "started");
  const before = Date.now();
  await first.begin(running);
  // crash: no complete()
  const second = new CommandQueue(client, options);
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
  const main = new CommandQueue(client, options);
  const other = new CommandQueue(client, { ...options, session: "other" });
  await main.init();
  await other.init();
  await main.submit(msg("for-main", "human"));
  await other.submit(msg("for-other", "human"));
  assert.equal(await client.xlen("agent:daemon:queue:human"), 1, "default id: original key");
  assert.equal(await client.xlen("agent:daemon:other:queue:human"), 1);
  assert.deepEqual(await drain(other), ["for-other"], "two daemons never take each other's commands");
  assert.deepEqual(await drain(main), ["for-main"]);
});
