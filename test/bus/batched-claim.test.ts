/**
 * A claim and an ack move a whole batch in a few Redis commands (claim-8.lua, ack-4.lua): the
 * dedup and in-flight checks, the in-flight records and leases, the delivered ids and the journal
 * go a chunk at a time, not a command or more per event. Same answers as one at a time: duplicates
 * within the batch, ids already delivered or in flight, an id named twice, and the journal read back per event.
 */
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { GatewayBus } from "../../src/bus/bus.js";
import { createEvent } from "../../src/protocol/event.js";
import { onSingleAndCluster, useRedisBus } from "../helpers/redis-bus.js";
import { startRedis, type RedisServer } from "../helpers/redis-server.js";

const line = (id: string, extra = "") => `{"id":"${id}","type":"batch.test","source":"test","payload":{"n":1}${extra},"ts":0}`;

/** Calls per command since the last reset (`INFO commandstats`). */
async function commandCalls(bus: GatewayBus): Promise<Map<string, number>> {
  const calls = new Map<string, number>();
  for (const match of (await bus.client.info("commandstats")).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(match[1]!, Number(match[2]));
  return calls;
}

describe("a batch of 2,000 on a single Redis", () => {
  let bus: GatewayBus;
  useRedisBus({ flushEach: true }, (_redis, connected) => (bus = connected));

  test("is claimed and acknowledged in a handful of commands, and journaled 50 ids to a stream entry", async () => {
    const ids = Array.from({ length: 2_000 }, (_, i) => `b-${i}`);
    for (let i = 0; i < ids.length; i += 500) await bus.client.lpush(bus.keys.events("main"), ...ids.slice(i, i + 500).map((id) => line(id)));
    await bus.client.config("RESETSTAT");
    const claimed = await bus.claim("main", 2_000);
    assert.deepEqual(
      claimed.events.map((e) => e.id),
      ids,
      "every event, oldest first",
    );
    assert.equal(await bus.ack("main", ids), 2_000);
    const calls = await commandCalls(bus);
    // One at a time, this was 2,000 of each (and 2,000 XADDs for the journal).
    for (const command of ["zadd", "hset", "zmscore", "hdel", "zrem"]) {
      assert.ok((calls.get(command) ?? 0) <= 4, `${command}: ${calls.get(command)} calls for 2,000 events`);
    }
    assert.equal(calls.get("xadd"), 40, "2,000 delivered ids in 40 journal entries");
    assert.equal(calls.get("hexists") ?? 0, 0, "no per-event in-flight check when nothing is in flight");

    const delivered = (await bus.journal(5_000)).filter((e) => e.kind === "delivered");
    assert.deepEqual(
      delivered.map((e) => e.id),
      ids,
      "the journal reads back one delivered entry per event, in order",
    );
    assert.ok(delivered.every((e) => e.sessions.join() === "main"));
    const newest = await bus.journal(3);
    assert.deepEqual(
      newest.map((e) => e.id),
      ids.slice(-3),
      "journal(n) gives the newest n events, not n stream entries",
    );
    assert.equal(await bus.client.zcard(bus.keys.delivered("main")), 2_000, "every id remembered for dedup");
    assert.equal(await bus.client.hlen(bus.keys.inflight("main")), 0);
    assert.equal(await bus.client.zcard(bus.keys.leases("main")), 0);
  });

  test("paging the journal forward never skips an id of a batched entry", async () => {
    const ids = Array.from({ length: 120 }, (_, i) => `p-${i}`);
    await bus.client.lpush(bus.keys.events("main"), ...ids.map((id) => line(id)));
    await bus.ack(
      "main",
      (await bus.claim("main", 120)).events.map((e) => e.id),
    );
    const seen: string[] = [];
    let after = "0-0";
    for (;;) {
      const page = await bus.journalSince(after, 1);
      if (!page.length) break;
      seen.push(...page.filter((e) => e.kind === "delivered").map((e) => e.id));
      after = page.at(-1)!.streamId;
    }
    assert.deepEqual(seen, ids);
  });
});

describe("on a Redis without ZMSCORE (before 6.2)", () => {
  let redis: RedisServer;
  let bus: GatewayBus;
  before(async () => {
    redis = await startRedis({ args: ["--rename-command", "ZMSCORE", ""] });
    bus = await GatewayBus.connect({ redisUrl: redis.url });
  });
  after(async () => {
    await bus.close();
    await redis.stop();
  });
  beforeEach(() => bus.client.flushall());

  test("the claim checks ids one at a time and gives the same answers", async () => {
    await assert.rejects(bus.client.call("ZMSCORE", "k", "a"), /unknown command/i, "the server really lacks ZMSCORE");
    await bus.client.lpush(bus.keys.events("main"), line("a"), line("b"));
    assert.deepEqual(
      (await bus.claim("main")).events.map((e) => e.id),
      ["a", "b"],
    );
    await bus.ack("main", ["a"]);
    await bus.client.lpush(bus.keys.events("main"), line("a"), line("b"), line("c"), line("c"));
    const again = await bus.claim("main");
    assert.deepEqual(
      again.events.map((e) => e.id),
      ["c"],
    );
    assert.equal(again.duplicates, 3, "a delivered, b in flight, c twice in one claim");
    const reasons = (await bus.journal(20)).filter((e) => e.kind === "duplicate").map((e) => `${e.id}: ${e.reason}`);
    assert.deepEqual(reasons, ["a: already delivered", "b: already in flight", "c: already in flight"]);
  });
});

onSingleAndCluster({ flushEach: true }, (backend) => {
  test("an entry naming its id twice is delivered under the last one (JSON's rule, as before), and acknowledged under it", async () => {
    const { bus } = backend();
    await bus.register({ id: "s1", role: "satellite", durable: true, instance: "t" });
    const nested = '{"id":"outer","type":"batch.test","source":"test","payload":{"id":"inner"},"ts":0}';
    // The same key again, spelt with an escape: JSON reads "\u0069d" as "id".
    const escaped = line("third", ',"\\u0069d":"fourth"');
    await bus.client.lpush(bus.keys.events("s1"), line("first", ',"id":"second"'), nested, escaped, line("plain"));
    const claimed = await bus.claim("s1");
    assert.deepEqual(
      claimed.events.map((e) => e.id),
      ["second", "outer", "fourth", "plain"],
    );
    assert.equal(claimed.deadLettered, 0);
    assert.equal(await bus.ack("s1", ["second", "outer", "fourth", "plain"]), 4, "each acknowledged under the id it was delivered under");
    assert.equal(await bus.client.hlen(bus.keys.inflight("s1")), 0, "nothing left in flight");
  });

  test("the gateway's own events (id first) and a raw line with the id last are claimed alike", async () => {
    const { bus } = backend();
    await bus.register({ id: "s2", role: "satellite", durable: true, instance: "t" });
    const own = createEvent("batch.test", "test", { n: 1 }, { id: "own-1" });
    await bus.push(own, { target: "s2", exclusive: true });
    await bus.client.lpush(
      bus.keys.events("s2"),
      '{"type":"batch.test","source":"test","payload":{},"ts":0,"id":"last-1"}',
      '  { "id" : "spaced-1", "type":"batch.test","source":"test","ts":0}',
    );
    const claimed = await bus.claim("s2");
    assert.deepEqual(
      claimed.events.map((e) => e.id),
      ["own-1", "last-1", "spaced-1"],
    );
  });
});
