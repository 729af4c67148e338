import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { after, before, beforeEach, test } from "node:test";
import { CommandQueue } from "../../src/daemon/command-queue.js";
import type { InboundMessage } from "../../src/daemon/types.js";
import { startRedis, type RedisServer } from "../helpers/redis-server.js";
import { sleep } from "../helpers/wait.js";

let redis: RedisServer;
let client: Redis;
const options = { prefix: "agent", dedupWindowMs: 60_000, agingMs: 60_000, collectWindowMs: 200 };

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
