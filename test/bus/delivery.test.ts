import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { execFileSync } from "node:child_process";
import { beforeEach, describe, test } from "node:test";
import { GatewayBus } from "../../src/bus/bus.js";
import { EventConsumer } from "../../src/bus/consumer.js";
import { createEvent, type GatewayEvent } from "../../src/protocol/event.js";
import { onSingleAndCluster, testUnless } from "../helpers/redis-bus.js";
import { sleep, waitFor } from "../helpers/wait.js";

// On a single Redis and on a real Redis Cluster alike; killing and restarting the server is the single
// Redis's case (a cluster's primary killed -9 is the failover chaos scenario's, docs/cluster.md §7).
onSingleAndCluster({ aof: true, bus: { leaseMs: 500 }, flushEach: true }, (backend, cluster) => {
  let bus: GatewayBus;
  let redis: { url: string; port: number; kill(signal: string): Promise<void>; restart(): Promise<void> };
  beforeEach(() => {
    ({ bus } = backend());
    const server = backend().server;
    redis = {
      url: backend().url,
      port: Number(new URL(backend().url).port),
      kill: async (signal) => void (await server!.kill(signal as NodeJS.Signals)),
      restart: async () => void (await server!.restart()),
    };
  });
  const restarts = cluster && "restarts the single Redis (a cluster's failover is the chaos scenario's)";

  const cli = (...args: string[]) =>
    execFileSync("redis-cli", ["-c", "-p", String(redis.port), ...args])
      .toString()
      .trim();

  describe("claim and acknowledge", () => {
    testUnless(restarts)("oldest first; acknowledged ids are refused afterwards, even after a Redis restart", async () => {
      for (let i = 0; i < 3; i++) await bus.push(createEvent("n", "t", { i }, { id: `e${i}` }));
      const first = await bus.claim("main", 2);
      assert.deepEqual(
        first.events.map((e) => e.id),
        ["e0", "e1"],
      );
      assert.equal(await bus.ack("main", ["e0", "e1"]), 2);

      await redis.kill("SIGKILL");
      await redis.restart();
      // The same ids again, the way a retrying raw producer would send them.
      cli("LPUSH", "agent:events:main", JSON.stringify({ id: "e0", type: "n", source: "t", payload: {}, ts: 1 }));
      const again = await waitFor(() => bus.claim("main").catch(() => undefined), "claim after restart");
      assert.deepEqual(
        again.events.map((e) => e.id),
        ["e2"],
      );
      assert.equal(again.duplicates, 1);
    });

    test("an unacknowledged claim is handed out again after its lease, in order", async () => {
      for (let i = 0; i < 4; i++) await bus.push(createEvent("n", "t", {}, { id: `e${i}` }));
      const claimed = await bus.claim("main", 3);
      assert.equal(claimed.events.length, 3);
      assert.equal(await bus.recoverExpired("main"), 0, "lease still running");
      await sleep(600);
      assert.equal(await bus.recoverExpired("main"), 3);
      const again = await bus.claim("main", 10);
      assert.deepEqual(
        again.events.map((e) => e.id),
        ["e0", "e1", "e2", "e3"],
      );
    });

    test("release hands a failed batch back to the front", async () => {
      for (let i = 0; i < 3; i++) await bus.push(createEvent("n", "t", {}, { id: `e${i}` }));
      const claimed = await bus.claim("main", 2);
      await bus.release("main", claimed.events.map((e) => e.id).reverse());
      const again = await bus.claim("main", 10);
      assert.deepEqual(
        again.events.map((e) => e.id),
        ["e0", "e1", "e2"],
      );
    });

    test("malformed entries are dead-lettered with a reason; valid ones around them are delivered", async () => {
      const good = (id: string) => JSON.stringify({ id, type: "ok", source: "t", payload: {}, ts: 1 });
      const bad: Array<[string, RegExp]> = [
        ["not json at all", /not JSON/],
        ["[1,2,3]", /not a JSON object/],
        ["[]", /not a JSON object: the entry is an array/],
        [JSON.stringify({ id: 7, type: "x", source: "t", payload: {}, ts: 1 }), /id: must be a string, the entry has a number/],
        [JSON.stringify({ id: "s1", type: "has spaces", source: "t", payload: {}, ts: 1 }), /type/],
        [JSON.stringify({ id: "s2", type: "x", source: "t", payload: {} }), /ts/],
        [JSON.stringify({ id: "s3", type: "x", source: "t", payload: deep(40), ts: 1 }), /nests deeper/],
      ];
      cli("LPUSH", "agent:events:main", good("g1"));
      for (const [raw] of bad) cli("LPUSH", "agent:events:main", raw);
      cli("LPUSH", "agent:events:main", good("g2"));
      const claimed = await bus.claim("main", 100);
      assert.deepEqual(
        claimed.events.map((e) => e.id),
        ["g1", "g2"],
      );
      assert.equal(claimed.deadLettered, bad.length);
      const letters = (await bus.deadLetters(100)).reverse();
      assert.equal(letters.length, bad.length);
      bad.forEach(([raw, reason], i) => {
        assert.match(letters[i]!.reason, reason);
        assert.equal(letters[i]!.raw, raw);
      });
      assert.equal(await bus.client.hlen(bus.keys.inflight("main")), 2, "only the valid ones are in flight");
    });

    test("an oversized entry is dead-lettered unread", async () => {
      const small = new GatewayBus(bus.client, { ...bus.options, maxEventBytes: 1000 });
      cli("LPUSH", "agent:events:main", JSON.stringify({ id: "big", type: "x", source: "t", payload: "y".repeat(5000), ts: 1 }));
      const claimed = await small.claim("main");
      assert.equal(claimed.events.length, 0);
      assert.equal(claimed.deadLettered, 1);
      assert.match((await small.deadLetters())[0]!.reason, /over the 1000-byte limit/);
    });
  });

  describe("exactly once under concurrency and crashes", () => {
    test("20 concurrent producers x 1,000 events while a consumer drains: every event once", async () => {
      const producers = await Promise.all(Array.from({ length: 20 }, () => GatewayBus.connect({ redisUrl: redis.url })));
      const seen = new Map<string, number>();
      const consumerBus = await GatewayBus.connect({ redisUrl: redis.url, persistent: true, pollIntervalMs: 100 });
      const consumer = new EventConsumer({
        bus: consumerBus,
        sessionId: "main",
        role: "central",
        durable: true,
        deliver: async ({ events }) => {
          for (const e of events) seen.set(e.id, (seen.get(e.id) ?? 0) + 1);
        },
      });
      await consumer.start();
      try {
        await Promise.all(
          producers.map(async (p, n) => {
            for (let i = 0; i < 1000; i++) await p.push(createEvent("load", `p${n}`, { i }, { id: `p${n}-${i}` }));
          }),
        );
        await waitFor(() => seen.size === 20_000, "all 20,000 events delivered", 30_000);
        await sleep(300);
        assert.equal(seen.size, 20_000);
        assert.deepEqual(
          [...seen.values()].filter((n) => n !== 1),
          [],
          "no event delivered twice",
        );
        assert.equal(await bus.pending("main"), 0);
      } finally {
        await consumer.stop();
        await consumerBus.close();
        await Promise.all(producers.map((p) => p.close()));
      }
    });

    test("kill -9 of the consumer between delivery and ack: restart re-delivers, each event once", async () => {
      const total = 2000;
      for (let i = 0; i < total; i++) await bus.push(createEvent("n", "t", {}, { id: `k${i}` }));
      const first = startConsumer({ DELAY_MS: "30" });
      await waitForLine(first, /^batch 5 /);
      first.kill("SIGKILL");
      await new Promise((r) => first.once("exit", r));
      const inFlight = await bus.client.hlen(bus.keys.inflight("main"));
      assert.ok(inFlight > 0, "the kill landed mid-batch (delivered, not acknowledged)");
      assert.ok(Number(cli("LLEN", "{test}:log")) < total, "the first consumer did not finish");

      const second = startConsumer({});
      try {
        await waitFor(async () => Number(cli("LLEN", "{test}:log")) >= total, "every event delivered after restart", 20_000);
        await sleep(300);
        const log = (await bus.client.lrange("{test}:log", 0, -1)) as string[];
        assert.equal(log.length, total, "no duplicates in the delivery log");
        assert.equal(new Set(log).size, total);
        assert.equal(await bus.client.hlen(bus.keys.inflight("main")), 0);
      } finally {
        second.kill("SIGKILL");
      }
    });

    testUnless(restarts)("Redis kill -9 and restart (AOF) during pushes and drains: nothing lost, nothing twice", async () => {
      const seen = new Map<string, number>();
      const consumerBus = await GatewayBus.connect({ redisUrl: redis.url, persistent: true, pollIntervalMs: 100, leaseMs: 1000 });
      const consumer = new EventConsumer({
        bus: consumerBus,
        sessionId: "main",
        role: "central",
        durable: true,
        alreadyDelivered: (ids) => new Set(ids.filter((id) => seen.has(id))),
        deliver: async ({ events }) => {
          for (const e of events) seen.set(e.id, (seen.get(e.id) ?? 0) + 1);
        },
      });
      consumer.on("drainFailed", () => undefined);
      await consumer.start();
      const producers = await Promise.all(Array.from({ length: 4 }, () => GatewayBus.connect({ redisUrl: redis.url, pushRetryMs: 20_000 })));
      const pushed: GatewayEvent[] = [];
      try {
        const pushing = Promise.all(
          producers.map(async (p, n) => {
            for (let i = 0; i < 1500; i++) {
              const event = createEvent("n", `p${n}`, {}, { id: `r${n}-${i}` });
              await p.pushWithRetry(event);
              pushed.push(event);
            }
          }),
        );
        await waitFor(() => pushed.length > 1500, "pushes under way");
        await redis.kill("SIGKILL");
        await sleep(400);
        await redis.restart();
        await pushing;
        await waitFor(() => seen.size === 6000, "every pushed event delivered", 30_000);
        await sleep(1500);
        assert.equal(seen.size, 6000);
        assert.deepEqual(
          [...seen.values()].filter((n) => n !== 1),
          [],
        );
      } finally {
        await consumer.stop();
        await consumerBus.close();
        await Promise.all(producers.map((p) => p.close()));
      }
    });
  });
  function startConsumer(env: Record<string, string>): ChildProcess {
    return spawn(process.execPath, ["--import", "tsx", "test/fixtures/consumer-child.ts"], {
      env: { ...process.env, REDIS_URL: redis.url, SID: "main", LEASE: "60000", BATCH: "20", ...env },
      stdio: ["ignore", "pipe", "inherit"],
    });
  }

  function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs = 15_000): Promise<void> {
    return new Promise((resolve, reject) => {
      let buffer = "";
      const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} within ${timeoutMs}ms`)), timeoutMs);
      child.stdout!.on("data", (chunk: Buffer) => {
        buffer += chunk.toString();
        if (buffer.split("\n").some((line) => pattern.test(line))) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }

  function deep(levels: number): unknown {
    let value: unknown = {};
    for (let i = 0; i < levels; i++) value = { a: value };
    return value;
  }
});
