import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { beforeEach, describe, test } from "node:test";
import { GatewayBus } from "../../src/bus/bus.js";
import { pushGatewayEvent } from "../../src/bus/producer.js";
import { createEvent } from "../../src/protocol/event.js";
import { onSingleAndCluster, testUnless } from "../helpers/redis-bus.js";

// On a single Redis and on a real Redis Cluster alike.
onSingleAndCluster({ bus: { presenceTtlMs: 60_000 }, flushEach: true }, (backend, cluster) => {
  let bus: GatewayBus;
  let redis: { url: string; port: number };
  beforeEach(() => {
    ({ bus } = backend());
    redis = { url: backend().url, port: Number(new URL(backend().url).port) };
  });

  /**
   * Sets sessions' presence deadlines (a crash: in the past): the presence score the router and the
   * reaper read, and the record's own deadline a cluster's lease decision and reaper check.
   */
  const lapse = async (deadline: number, ...ids: string[]) => {
    for (const id of ids) {
      await bus.client.zadd(bus.keys.presence, deadline, id);
      await bus.client.hset(bus.keys.sessionInfo(id), "deadline", deadline);
    }
  };

  const reg = (id: string, role: "central" | "satellite", durable = role === "central") => bus.register({ id, role, durable, instance: `i-${id}` });

  describe("fan-out", () => {
    test("nobody registered: the legacy main queue gets it", async () => {
      const result = await bus.push(createEvent("download.complete", "test", { file: "a" }));
      assert.equal(result.status, "pushed");
      assert.deepEqual(result.sessions, ["main"]);
      assert.equal(await bus.pending("main"), 1);
    });

    test("central always gets it; satellites only what they originated or what targets them", async () => {
      await reg("gateway", "central");
      await reg("pid-1", "satellite");
      await reg("pid-2", "satellite");
      assert.deepEqual((await bus.push(createEvent("cron.heartbeat", "cron"))).sessions, ["gateway"]);
      assert.deepEqual((await bus.push(createEvent("build.done", "ci"), { originSession: "pid-1" })).sessions, ["gateway", "pid-1"]);
      assert.deepEqual((await bus.push(createEvent("note", "me"), { target: "pid-2" })).sessions, ["gateway", "pid-2"]);
      assert.equal(await bus.pending("gateway"), 3);
      assert.equal(await bus.pending("pid-1"), 1);
      assert.equal(await bus.pending("pid-2"), 1);
      assert.equal(await bus.pending("main"), 0);
    });

    test("only satellites registered and no origin match: falls back to main instead of nowhere", async () => {
      await reg("pid-1", "satellite");
      assert.deepEqual((await bus.push(createEvent("x", "t"), { originSession: "pid-9" })).sessions, ["main"]);
    });

    test("unknown target is refused with the registered sessions named, and nothing is queued", async () => {
      await reg("gateway", "central");
      await assert.rejects(bus.push(createEvent("x", "t"), { target: "nope" }), /unknown session "nope" \(registered: gateway\)/);
      assert.equal(await bus.pending("gateway"), 0);
    });

    test("a dead ephemeral satellite is not a receiver, and reaping dead-letters what it left", async () => {
      await bus.register({ id: "pid-dead", role: "satellite", durable: false, instance: "x" });
      await bus.push(createEvent("x", "t"), { target: "pid-dead" });
      // Simulate a crash: its presence deadline passes.
      await lapse(1, "pid-dead");
      const result = await bus.push(createEvent("y", "t"), { originSession: "pid-dead" });
      assert.deepEqual(result.sessions, ["main"]);
      const reaped = await bus.reapExpired();
      assert.deepEqual(reaped, [{ id: "pid-dead", deadLettered: 1 }]);
      const dead = await bus.deadLetters();
      assert.equal(dead.length, 1);
      assert.match(dead[0]!.reason, /pid-dead died before delivery/);
      assert.deepEqual(await bus.client.smembers(bus.keys.sessions), []);
    });

    test("a durable central that is down still collects events; its clean stop keeps it registered", async () => {
      await bus.register({ id: "gateway", role: "central", durable: true, instance: "a" });
      await bus.unregister("gateway", "a");
      assert.deepEqual((await bus.push(createEvent("x", "t"))).sessions, ["gateway"]);
      const [info] = await bus.sessions();
      assert.equal(info!.live, false);
      assert.equal(info!.pending, 1);
    });

    test("a session registered the seed's way (plain SADD) still receives", async () => {
      await bus.client.sadd(bus.keys.sessions, "gateway");
      assert.deepEqual((await bus.push(createEvent("x", "t"))).sessions, ["gateway"]);
    });

    test("pushGatewayEvent(type, source, payload, {originSession}): the one-call producer for scripts", async () => {
      await reg("gateway", "central");
      await reg("pid-3", "satellite");
      const result = await pushGatewayEvent("download.complete", "my-script", { file: "video.mp4" }, { originSession: "pid-3", redisUrl: redis.url });
      assert.equal(result.status, "pushed");
      assert.deepEqual(result.sessions, ["gateway", "pid-3"]);
      const [event] = (await bus.claim("pid-3")).events;
      assert.deepEqual([event!.type, event!.source, event!.payload, event!.originSession], ["download.complete", "my-script", { file: "video.mp4" }, "pid-3"]);
    });

    test("a retried push with the same id is a no-op", async () => {
      const event = createEvent("x", "t");
      assert.equal((await bus.push(event)).status, "pushed");
      assert.equal((await bus.push(event)).status, "duplicate");
      assert.equal(await bus.pending("main"), 1);
    });

    test("backlog cap: the oldest overflow goes to the dead-letter list, not into the void", async () => {
      const small = new GatewayBus(bus.client, { ...bus.options, backlogCap: 3 });
      for (let i = 0; i < 5; i++) await small.push(createEvent("n", "t", { i }));
      assert.equal(await small.pending("main"), 3);
      const dead = await small.deadLetters();
      assert.equal(dead.length, 2);
      assert.match(dead[0]!.reason, /backlog cap of 3 exceeded/);
      const claimed = await small.claim("main");
      assert.deepEqual(
        claimed.events.map((e) => (e.payload as { i: number }).i),
        [2, 3, 4],
      );
    });

    test("the journal records pushes with their sessions", async () => {
      await reg("gateway", "central");
      await bus.push(createEvent("a.b", "src", { k: 1 }));
      const [entry] = await bus.journal(5);
      assert.equal(entry!.kind, "pushed");
      assert.equal(entry!.type, "a.b");
      assert.deepEqual(entry!.sessions, ["gateway"]);
    });
  });

  describe("wire compatibility with the original design", () => {
    test("an event pushed with plain redis-cli LPUSH is claimed and validated", async () => {
      const raw = JSON.stringify({ id: "test", type: "test", source: "manual", payload: {}, ts: 0 });
      execFileSync("redis-cli", ["-c", "-p", String(redis.port), "LPUSH", "agent:events:main", raw]);
      execFileSync("redis-cli", ["-c", "-p", String(redis.port), "PUBLISH", "agent:notify:main", "test"]);
      const claimed = await bus.claim("main");
      assert.equal(claimed.events.length, 1);
      assert.equal(claimed.events[0]!.id, "test");
      assert.equal(claimed.events[0]!.source, "manual");
    });

    const noLegacy = cluster && "a cluster's registry never predates the indexes (a cluster was refused before them)";
    testUnless(noLegacy)("a registry written before the centrals index (no index keys) is indexed by the first push", async () => {
      await bus.client.sadd(bus.keys.sessions, "hub", "pid-7");
      await bus.client.hset(bus.keys.sessionInfo("hub"), "role", "central", "durable", "1", "drains", "hub,main");
      await bus.client.hset(bus.keys.sessionInfo("pid-7"), "role", "satellite", "durable", "0");
      await bus.client.zadd(bus.keys.presence, Date.now() + 60_000, "hub");
      assert.equal(await bus.client.exists(bus.keys.centrals, bus.keys.indexed), 0);
      const result = await bus.push(createEvent("x", "t"));
      assert.deepEqual(result.sessions, ["hub"]);
      assert.deepEqual(result.undrained, []);
      assert.deepEqual(await bus.client.smembers(bus.keys.centrals), ["hub"]);
      assert.deepEqual((await bus.client.smembers(bus.keys.drainers("main"))).sort(), ["hub"]);
    });

    test("the indexes follow registration: a role change, a changed drains list, an ephemeral central retired", async () => {
      await bus.register({ id: "c1", role: "central", durable: false, instance: "a", queues: ["c1", "main"] });
      await bus.register({ id: "c2", role: "central", durable: true, instance: "b" });
      assert.deepEqual((await bus.push(createEvent("x", "t"))).sessions, ["c1", "c2"]);
      await bus.register({ id: "c2", role: "satellite", durable: true, instance: "b" });
      await bus.register({ id: "c1", role: "central", durable: false, instance: "a", queues: ["c1"] });
      assert.deepEqual(await bus.client.smembers(bus.keys.drainers("main")), []);
      const pushed = await bus.push(createEvent("y", "t"));
      assert.deepEqual(pushed.sessions, ["c1"]);
      await bus.unregister("c1", "a");
      assert.deepEqual(await bus.client.smembers(bus.keys.centrals), []);
      assert.deepEqual((await bus.push(createEvent("z", "t"))).sessions, ["main"]);
    });

    test("reaping reads only the expired sessions: live ones are untouched, a lapsed durable one is marked stopped once", async () => {
      await bus.register({ id: "live", role: "satellite", durable: false, instance: "l" });
      await bus.register({ id: "gone", role: "satellite", durable: false, instance: "g" });
      await bus.register({ id: "hub", role: "central", durable: true, instance: "h" });
      await lapse(5, "gone");
      await lapse(6, "hub");
      assert.deepEqual(await bus.reapExpired(), [
        { id: "gone", deadLettered: 0 },
        { id: "hub", deadLettered: 0 },
      ]);
      assert.deepEqual(await bus.reapExpired(), []);
      assert.deepEqual((await bus.client.smembers(bus.keys.sessions)).sort(), ["hub", "live"]);
      assert.deepEqual(await bus.client.smembers(bus.keys.centrals), ["hub"], "a durable central stays a fan-out target");
    });
  });
});
