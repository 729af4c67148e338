/**
 * A session publishes its process's memory in its record (register-session-1.lua, `memory` of
 * `pi-gateway sessions --json`): on registration and on every presence tick, only while it owns
 * the id; a record whose `memory` is not what a session writes reads as none.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { GatewayBus } from "../../src/bus/bus.js";
import { EventConsumer } from "../../src/bus/consumer.js";
import type { RedisServer } from "../helpers/redis-server.js";
import { useRedisBus } from "../helpers/redis-bus.js";
import { waitFor } from "../helpers/wait.js";

let redis: RedisServer;
let bus: GatewayBus;

useRedisBus({ flushEach: true, bus: { presenceTtlMs: 60_000 } }, (r, b) => {
  redis = r;
  bus = b;
});

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const MiB = 1024 * 1024;
const satellite = (instance: string) => ({ id: "s1", role: "satellite" as const, durable: true, instance, kind: "pi" });
const memory = (rss: number) => ({ rss, heapUsed: 40 * MiB, external: 4 * MiB, liveHeap: 30 * MiB, at: 1_800_000_000_000 });
const memoryOf = async (id: string) => (await bus.sessions()).find((s) => s.id === id)?.memory;

describe("a session's memory in its record", () => {
  test("written at registration, moved by the owner's presence tick, never by a refused one", async () => {
    assert.equal((await bus.register({ ...satellite("a"), memory: memory(100 * MiB) })).status, "owner");
    assert.deepEqual(await memoryOf("s1"), memory(100 * MiB));
    await bus.register({ ...satellite("a"), memory: memory(120 * MiB) }, { renew: true });
    assert.deepEqual(await memoryOf("s1"), memory(120 * MiB), "the tick writes the memory anew");
    assert.equal((await bus.register({ ...satellite("b"), memory: memory(999 * MiB) })).status, "held");
    assert.deepEqual(await memoryOf("s1"), memory(120 * MiB), "another instance's refused registration wrote nothing");
    await bus.register(satellite("a"), { renew: true });
    assert.deepEqual(await memoryOf("s1"), memory(120 * MiB), "a tick without memory keeps the last one");
  });

  test("a memory value a session does not write reads as none (edited or hostile records)", async () => {
    await bus.register(satellite("a"));
    const key = bus.keys.sessionInfo("s1");
    for (const raw of [
      "",
      "not json",
      "null",
      "[]",
      '{"rss":-1,"heapUsed":1,"external":1,"at":1}',
      '{"rss":"1","heapUsed":1,"external":1,"at":1}',
      '{"heapUsed":1}',
    ]) {
      await bus.client.hset(key, "memory", raw);
      assert.equal(await memoryOf("s1"), undefined, `memory ${JSON.stringify(raw)}`);
    }
    await bus.client.hset(key, "memory", '{"rss":1,"heapUsed":2,"external":3,"at":4,"extra":"x"}');
    assert.deepEqual(await memoryOf("s1"), { rss: 1, heapUsed: 2, external: 3, at: 4 }, "unknown keys are dropped, a missing live heap stays missing");
  });

  test("a consumer publishes this process's memory with every tick, the live heap once a full GC ran", async () => {
    const consumerBus = await GatewayBus.connect({ redisUrl: redis.url, persistent: true, presenceTtlMs: 600 });
    const consumer = new EventConsumer({ bus: consumerBus, sessionId: "s2", role: "satellite", durable: true, deliver: async () => undefined });
    await consumer.start();
    try {
      const first = await memoryOf("s2");
      assert.ok(first, "published at registration");
      const rss = process.memoryUsage().rss;
      assert.ok(first.rss > rss / 2 && first.rss < rss * 2, `this process's RSS: ${first.rss} vs ${rss}`);
      assert.ok(first.heapUsed > MiB && first.external > 0 && Math.abs(first.at - Date.now()) < 60_000);
      gc();
      await waitFor(
        async () => {
          const now = await memoryOf("s2");
          return !!now && now.at > first.at && now.liveHeap !== undefined;
        },
        "a presence tick published the live heap after a full GC",
        10_000,
        100,
      );
      const later = (await memoryOf("s2"))!;
      assert.ok(later.liveHeap! > MiB && later.liveHeap! < later.rss, `a plausible live heap: ${later.liveHeap}`);
    } finally {
      await consumer.stop();
      await consumerBus.close();
    }
  });
});
