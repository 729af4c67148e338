/**
 * take() in one round trip (queue-take-7.lua): every priority's head with its retry and started
 * state and its done mark, read in one atomic step. Each test counts the commands the queue's
 * client sends, and checks the edges: empty queues, everything waiting for its retry, a pending
 * entry deleted while pending, replays before new commands, an answered replay; and complete()
 * making the next take()'s read in its own script, unless the queue changed since.
 */
import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import { test } from "node:test";
import type { GatewayBus } from "../../src/bus/bus.js";
import { CommandQueue, type QueuedCommand } from "../../src/daemon/command-queue.js";
import type { InboundMessage } from "../../src/daemon/types.js";
import { useRedisBus } from "../helpers/redis-bus.js";

let bus: GatewayBus;
let client: Redis;
useRedisBus({ flushEach: true, bus: { prefix: "agent", dedupWindowMs: 60_000, deadLetterCap: 100, journalCap: 100 } }, (_redis, b) => {
  bus = b;
  client = b.client as Redis;
});

const HUMAN = "agent:daemon:queue:human";
const later = () => ({ attempts: 1, notBefore: Date.now() + 60_000, error: "503 unavailable" });

function newQueue(): CommandQueue {
  return new CommandQueue(bus.commandQueue("gateway"), { agingMs: 60_000, collectWindowMs: 0, promptsPerClient: 1000, promptsPerChannel: 1000 });
}

const msg = (id: string, priority: InboundMessage["priority"] = "human"): InboundMessage => ({ id, channel: "test", text: id, priority });

/** Runs `f`, returning its result and the names of the commands the bus's client sent meanwhile. */
async function counted<T>(f: () => Promise<T>): Promise<{ result: T; sent: string[] }> {
  const sent: string[] = [];
  const original = client.sendCommand.bind(client);
  client.sendCommand = ((command: Parameters<Redis["sendCommand"]>[0], ...rest: unknown[]) => {
    sent.push(command.name);
    return (original as (...a: unknown[]) => unknown)(command, ...rest);
  }) as Redis["sendCommand"];
  try {
    return { result: await f(), sent };
  } finally {
    client.sendCommand = original;
  }
}

/** take() with its cost: one command at most (none when complete() already sent its read). */
async function takeOnce(queue: CommandQueue): Promise<QueuedCommand | undefined> {
  const { result, sent } = await counted(() => queue.take());
  assert.ok(sent.length <= 1 && sent.every((name) => name === "evalsha"), `take() is one round trip at most, sent ${sent.join(", ")}`);
  return result;
}

test("empty queues: take() finds nothing in one round trip and leaves nothing pending", async () => {
  const queue = newQueue();
  await queue.init();
  assert.equal(await takeOnce(queue), undefined);
  assert.deepEqual(await queue.depth(), { human: 0, event: 0, heartbeat: 0 });
  for (const priority of ["human", "event", "heartbeat"]) assert.equal((await client.xpending(`agent:daemon:queue:${priority}`, "daemon"))[0], 0);
});

test("every pending command waiting for its retry: nothing due, none taken early; a new one behind them runs", async () => {
  const queue = newQueue();
  await queue.init();
  for (const id of ["a", "b"]) await queue.submit(msg(id));
  for (const id of ["a", "b"]) {
    const taken = (await takeOnce(queue))!;
    assert.equal(taken.message.id, id);
    await queue.retryLater(taken, later(), "retry 1");
  }
  assert.equal(await takeOnce(queue), undefined, "both wait for their retry time");
  await queue.submit(msg("c"));
  assert.equal((await takeOnce(queue))!.message.id, "c", "the waiting ones do not block the new one");
  // An unreadable retry state must not hold its command back forever: it runs as if it never failed.
  await client.hset("agent:daemon:retry", "a", "{not json");
  const unreadable = (await takeOnce(queue))!;
  assert.equal(unreadable.message.id, "a");
  assert.equal(unreadable.attempts, 0);
});

test("a pending entry deleted while pending is acknowledged away and the next one runs", async () => {
  const queue = newQueue();
  await queue.init();
  for (const id of ["gone", "next"]) await queue.submit(msg(id));
  const gone = (await takeOnce(queue))!;
  await client.xdel(HUMAN, gone.entries[0]!.streamId); // trimmed while its turn ran; then a crash
  const restarted = newQueue();
  assert.equal(await restarted.init(), 1);
  const next = (await takeOnce(restarted))!;
  assert.equal(next.message.id, "next");
  const pending = (await client.xpending(HUMAN, "daemon", "-", "+", 10)) as Array<[string]>;
  assert.deepEqual(
    pending.map(([id]) => id),
    [next.entries[0]!.streamId],
    "the deleted entry left the pending list",
  );
});

test("replays first: past a full page of commands waiting for their retry, the interrupted one runs before new ones", async () => {
  const first = newQueue();
  await first.init();
  for (let i = 0; i < 123; i++) await first.submit(msg(`m${i}`));
  for (let i = 0; i < 120; i++) await first.retryLater((await takeOnce(first))!, later(), "retry 1");
  const running = (await takeOnce(first))!;
  assert.equal(running.message.id, "m120");
  const before = Date.now();
  await first.begin(running);
  // crash: no complete(). The next process replays m120 (behind 120 waiting entries) before m121.
  const second = newQueue();
  assert.equal(await second.init(), 121);
  const replay = (await takeOnce(second))!;
  assert.equal(replay.message.id, "m120");
  assert.equal(replay.replayed, true);
  assert.ok(replay.interruptedAt! >= before - 5 && replay.interruptedAt! <= Date.now(), "its turn had started");
  await second.complete(replay);
  const fresh = (await takeOnce(second))!;
  assert.deepEqual([fresh.message.id, fresh.replayed, fresh.interruptedAt], ["m121", false, undefined]);
});

test("a replay answered before the crash is known answered from the same step; an answer recorded since is not missed", async () => {
  const first = newQueue();
  await first.init();
  for (const id of ["answered", "steered"]) await first.submit(msg(id));
  await first.recordAnswered((await takeOnce(first))!);
  // crash between the reply and complete()
  const second = newQueue();
  await second.init();
  const replay = (await takeOnce(second))!;
  assert.equal(replay.message.id, "answered");
  const { result, sent } = await counted(() => second.alreadyAnswered(replay));
  assert.deepEqual([result, sent], [true, []], "no second round trip");
  await second.complete(replay);
  const steered = (await takeOnce(second))!;
  await second.markAnswered(steered.message.id); // it joined the turn in progress meanwhile
  assert.equal(await second.alreadyAnswered(steered), true);
});

test("complete() makes the next take()'s read in the same script; a command submitted since is not missed", async () => {
  const queue = newQueue();
  await queue.init();
  for (const id of ["e1", "e2"]) await queue.submit(msg(id, "event"));
  await queue.submit(msg("h1"));
  const h1 = (await takeOnce(queue))!;
  const { sent } = await counted(async () => {
    await queue.complete(h1);
    const e1 = (await queue.take())!;
    assert.deepEqual(
      e1.entries.map((e) => e.id),
      ["e1", "e2"],
      "the event turn, batched as before",
    );
    await queue.complete(e1);
  });
  // complete + read in one script, the batch's own reads, complete + read: the take after a
  // completion sent nothing of its own, and each completion was one script call.
  assert.deepEqual(
    sent.filter((name) => name === "evalsha" || name === "eval"),
    ["evalsha", "evalsha"],
  );
  assert.equal(await takeOnce(queue), undefined);
  // A human submitted after the completion goes before the heartbeat the early read found.
  await queue.submit(msg("hb", "heartbeat"));
  await queue.submit(msg("h2"));
  const h2 = (await takeOnce(queue))!;
  assert.equal(h2.message.id, "h2");
  await queue.complete(h2);
  await queue.submit(msg("h3"));
  assert.equal((await takeOnce(queue))!.message.id, "h3", "submitted between complete() and take(): the early read is not used");
});

test("a completion Redis runs after the early read (its script cache was flushed) never hands out the completed command again", async () => {
  const queue = newQueue();
  await queue.init();
  for (const id of ["done-once", "next"]) await queue.submit(msg(id));
  const first = (await takeOnce(queue))!;
  await client.script("FLUSH"); // ioredis re-sends both scripts (EVAL) after NOSCRIPT
  await queue.complete(first);
  const next = (await takeOnce(queue))!;
  assert.equal(next.message.id, "next");
  await queue.complete(next);
  assert.equal(await takeOnce(queue), undefined);
  assert.deepEqual(await queue.depth(), { human: 0, event: 0, heartbeat: 0 });
});
