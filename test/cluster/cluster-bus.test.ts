/**
 * The bus on a real Redis Cluster (3 primaries + 3 replicas): the connection detects it and uses a
 * cluster client, key names carry the hash tags, and every operation that stays within one
 * session's slot (a raw producer's LPUSH, claim, ack, reject, renew, recover, duplicates, the
 * daemon's command queue, notifications on a second client) works for sessions on every primary, and
 * registration, reaping and the fan-out push run in their per-slot steps.
 */
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { after, before, describe, test } from "node:test";
import { GatewayBus } from "../../src/bus/bus.js";
import { pushInSlots } from "../../src/bus/producing.js";
import { installScripts } from "../../src/bus/scripts.js";
import { createEvent } from "../../src/protocol/event.js";
import { freePort } from "../helpers/redis-server.js";
import { startRedisCluster, type RedisCluster } from "../helpers/redis-cluster.js";
import { sleep, waitFor } from "../helpers/wait.js";

const keySlot = createRequire(import.meta.url)("cluster-key-slot") as (key: string) => number;

let cluster: RedisCluster;
let bus: GatewayBus;
/** One session id per primary (slots 0-5460, 5461-10922, 10923-16383), found by their events list's slot. */
const sessions: string[] = [];

before(async () => {
  cluster = await startRedisCluster();
  bus = await GatewayBus.connect({ redisUrl: cluster.seeds[0]!, persistent: true });
  for (const [low, high] of [
    [0, 5460],
    [5461, 10922],
    [10923, 16383],
  ] as const) {
    for (let i = 0; ; i++) {
      const slot = keySlot(`agent:events:s${i}`);
      if (slot >= low && slot <= high && !sessions.includes(`s${i}`)) {
        sessions.push(`s${i}`);
        break;
      }
    }
  }
});
after(async () => {
  await bus?.close();
  await cluster?.stop();
});

const raw = (id: string, extra: Record<string, unknown> = {}) => JSON.stringify({ ...createEvent("t", "test", { id }), id, ...extra });

describe("a Redis Cluster behind REDIS_URL", () => {
  test("is detected: a cluster client, tagged key names; status names it with its primaries", async () => {
    assert.equal(bus.keys.cluster, true);
    assert.equal(bus.keys.inflight("main"), "{agent:events:main}:inflight");
    assert.equal(bus.keys.sessions, "{agent:gateway}:sessions");
    assert.equal((await bus.status()).redis.primaries, 3);
  });

  test("a raw producer's LPUSH on every primary is claimed, acknowledged and deduplicated in its own slot", async () => {
    for (const sid of sessions) {
      await bus.client.lpush(bus.keys.events(sid), raw(`${sid}-1`), raw(`${sid}-2`), "not json");
      const claimed = await bus.claim(sid, 10);
      assert.deepEqual(
        claimed.events.map((e) => e.id),
        [`${sid}-1`, `${sid}-2`],
      );
      assert.equal(claimed.deadLettered, 1);
      assert.equal(await bus.renew(sid, [`${sid}-1`, `${sid}-2`]), 2);
      assert.equal(await bus.ack(sid, [`${sid}-1`]), 1);
      assert.equal(await bus.release(sid, [`${sid}-2`]), 1);
      // The acknowledged id again: a duplicate, counted in the session's own counters.
      await bus.client.lpush(bus.keys.events(sid), raw(`${sid}-1`));
      const again = await bus.claim(sid, 10);
      assert.deepEqual(
        again.events.map((e) => e.id),
        [`${sid}-2`],
      );
      assert.equal(again.duplicates, 1);
      assert.equal(await bus.reject(sid, [[`${sid}-2`, "refused by the test"]]), 1);
      assert.equal(await bus.client.hget(bus.keys.countersOf(sid), "duplicates"), "1");
      assert.equal(await bus.client.llen(bus.keys.deadLettersOf(sid)), 2);
      const kinds = (await bus.client.xrange(bus.keys.journalOf(sid), "-", "+")).map(([, fields]) => fields[1]);
      assert.deepEqual(kinds, ["dead-letter", "delivered", "duplicate", "dead-letter"]);
    }
  });

  test("dead letters, journal, counters and sessions are read across the slots of the registered sessions", async () => {
    // The seed's plain registration (SADD) puts them in the registry.
    await bus.client.sadd(bus.keys.sessions, ...sessions);
    assert.equal(await bus.deadLetterCount(), 6);
    const letters = await bus.deadLetters(4);
    assert.equal(letters.length, 4);
    assert.deepEqual(
      letters.map((l) => l.at),
      letters.map((l) => l.at).sort((a, b) => b - a),
    );
    assert.deepEqual(new Set((await bus.deadLetters(100)).map((l) => l.session)), new Set(sessions));
    const entries = await bus.journal(100);
    assert.equal(entries.length, 12);
    assert.deepEqual(
      entries.map((e) => e.streamId),
      [...entries.map((e) => e.streamId)].sort(
        (a, b) => Number(a.split("-")[0]) - Number(b.split("-")[0]) || Number(a.split("-")[1]) - Number(b.split("-")[1]),
      ),
    );
    assert.deepEqual(
      (await bus.journalSince(entries[5]!.streamId, 3)).map((e) => e.streamId),
      entries.slice(6, 9).map((e) => e.streamId),
    );
    const status = await bus.status();
    assert.equal(status.duplicates, 3);
    assert.equal(status.journalLength, 12);
    assert.equal(status.deadLetters, 6);
    assert.deepEqual(
      status.sessions.map((s) => [s.id, s.pending, s.inFlight]),
      [...sessions].sort().map((sid) => [sid, 0, 0]),
    );
    const reader = await bus.journalReader("test:tail");
    try {
      const waiting = reader.next(entries.at(-1)!.streamId, 3_000);
      await bus.client.lpush(bus.keys.events(sessions[2]!), "[]");
      await bus.claim(sessions[2]!, 10);
      assert.deepEqual(
        (await waiting).map((e) => [e.kind, e.sessions]),
        [["dead-letter", [sessions[2]]]],
      );
    } finally {
      reader.close();
    }
    await bus.purgeDeadLetters();
    assert.equal(await bus.deadLetterCount(), 0);
  });

  test("a claimer draining another session's queue (the central and `main`) checks its lease in the queue's slot", async () => {
    const [queue, claimer] = ["main", "gateway"];
    assert.notEqual(keySlot(bus.keys.events(queue)), keySlot(bus.keys.events(claimer)));
    await bus.client.lpush(bus.keys.events(queue), raw("m-1"), raw("m-2"));
    // The owner mirror names this instance (what registration writes into each drained queue's slot).
    await bus.client.hset(bus.keys.owner(queue), claimer, "i-1");
    const claimed = await bus.claim(queue, 1, { session: claimer, instance: "i-1" });
    assert.deepEqual(
      claimed.events.map((e) => e.id),
      ["m-1"],
    );
    // Another instance took the id over: the displaced one claims nothing, in the same atomic step.
    await bus.client.hset(bus.keys.owner(queue), claimer, "i-2");
    assert.deepEqual(await bus.claim(queue, 10, { session: claimer, instance: "i-1" }), { events: [], duplicates: 0, deadLettered: 0, displaced: true });
    assert.equal(await bus.pending(queue), 1);
    assert.equal(await bus.ack(queue, ["m-1"]), 1);
    await bus.client.del(bus.keys.events(queue), bus.keys.owner(queue));
  });

  test("registration runs in per-slot steps: the lease in the session's slot, the registry and routes globally, the owner mirror in each drained queue's slot", async () => {
    const central = { id: "gateway", role: "central" as const, durable: true, instance: "c-1", queues: ["gateway", "main"] };
    const first = await bus.register(central);
    assert.equal(first.status, "owner");
    assert.equal(await bus.client.sismember(bus.keys.sessions, "gateway"), 1);
    assert.equal(await bus.client.sismember(bus.keys.centrals, "gateway"), 1);
    assert.equal(await bus.client.sismember(bus.keys.drainers("main"), "gateway"), 1);
    assert.deepEqual(JSON.parse((await bus.client.hget(bus.keys.routes, "gateway"))!), { role: "central", durable: "1", drains: "gateway,main" });
    assert.equal(await bus.client.hget(bus.keys.owner("main"), "gateway"), "c-1");
    assert.equal(await bus.client.hget(bus.keys.owner("gateway"), "gateway"), "c-1");
    // The lease decision reads the record's own deadline: a second instance is refused while it lies ahead.
    const held = await bus.register({ ...central, instance: "c-2" });
    assert.equal(held.status, "held");
    assert.equal((await bus.leaseHolder("gateway"))?.instance, "c-1");
    const renewed = await bus.register(central, { renew: true });
    assert.equal(renewed.status === "owner" && renewed.previous.instance, "c-1");
    // Taken over: the mirror in main's slot names the new instance, and the displaced one claims nothing.
    assert.equal((await bus.register({ ...central, instance: "c-2" }, { takeover: "force" })).status, "owner");
    assert.equal(await bus.client.hget(bus.keys.owner("main"), "gateway"), "c-2");
    await bus.client.lpush(bus.keys.events("main"), raw("r-1"));
    assert.equal((await bus.claim("main", 10, { session: "gateway", instance: "c-1" })).displaced, true);
    assert.deepEqual(
      (await bus.claim("main", 10, { session: "gateway", instance: "c-2" })).events.map((e) => e.id),
      ["r-1"],
    );
    await bus.ack("main", ["r-1"]);
    // A clean stop of a durable id keeps its record and frees the lease for the next start.
    await bus.unregister("gateway", "c-2");
    assert.equal(await bus.leaseHolder("gateway"), undefined);
    assert.equal(await bus.client.zscore(bus.keys.presence, "gateway"), null);
    assert.equal((await bus.register({ ...central, instance: "c-3" })).status, "owner");
    await bus.unregister("gateway", "c-3");
  });

  test("reaping reads candidates globally, retires each in its slot only if its own deadline is still past, and keeps its records in sight", async () => {
    const [dead, alive] = [sessions[0]!, sessions[1]!];
    for (const sid of [dead, alive]) assert.equal((await bus.register({ id: sid, role: "satellite", durable: false, instance: `i-${sid}` })).status, "owner");
    await bus.client.lpush(bus.keys.events(dead), raw(`${dead}-left`));
    // Both presence scores lapsed; only `dead`'s record agrees (`alive` renewed its record, and its
    // global step is still to come).
    for (const sid of [dead, alive]) await bus.client.zadd(bus.keys.presence, 1, sid);
    await bus.client.hset(bus.keys.sessionInfo(dead), "deadline", 1);
    assert.equal((await bus.register({ id: "obs", role: "satellite", durable: false, instance: "o" })).status === "owner", true);
    const reaped = await bus.reapExpired();
    assert.deepEqual(reaped, [{ id: dead, deadLettered: 1 }]);
    assert.equal(await bus.client.sismember(bus.keys.sessions, dead), 0);
    assert.equal(await bus.client.hexists(bus.keys.routes, dead), 0);
    assert.equal(await bus.client.exists(bus.keys.sessionInfo(dead), bus.keys.events(dead), bus.keys.owner(dead)), 0);
    assert.equal(await bus.client.sismember(bus.keys.sessions, alive), 1);
    assert.equal((await bus.leaseHolder(alive))?.instance, `i-${alive}`);
    // Out of the registry, its dead letter is still read (the letterboxes index).
    assert.equal(await bus.client.sismember(bus.keys.letterboxes, dead), 1);
    assert.ok((await bus.deadLetters(100)).some((l) => l.session === dead && l.id === `${dead}-left`));
    // Run again: nothing left to do for `dead`; `alive` stays while its record is live.
    assert.deepEqual(await bus.reapExpired(), []);
    for (const [sid, instance] of [
      [alive, `i-${alive}`],
      ["obs", "o"],
    ] as const)
      await bus.unregister(sid, instance);
    await bus.purgeDeadLetters();
  });

  test("a fan-out push runs route / enqueue / routed across slots; a producer stopped after any step and retried with the same id delivers once to every target", async () => {
    const ctx = { client: bus.client, scripts: installScripts(bus.client), keys: bus.keys, options: bus.options };
    const [origin, target] = [sessions[1]!, sessions[2]!];
    await bus.register({ id: "gateway", role: "central", durable: true, instance: "c", queues: ["gateway", "main"] });
    for (const sid of [origin, target]) await bus.register({ id: sid, role: "satellite", durable: false, instance: `i-${sid}` });
    const targets = ["gateway", origin, target];
    const ids = (queue: string) => bus.client.lrange(bus.keys.events(queue), 0, -1).then((all) => all.map((e) => (JSON.parse(e) as { id: string }).id));
    const full = await bus.push(createEvent("t", "test", {}, { id: "f-0", target, originSession: origin }));
    assert.deepEqual([full.status, full.sessions], ["pushed", targets]);
    for (let steps = 1; steps <= targets.length + 1; steps++) {
      const event = createEvent("t", "test", {}, { id: `f-${steps}`, target, originSession: origin });
      await pushInSlots(ctx, event, JSON.stringify(event), target, origin, false, steps);
      // Routing changes meanwhile: the retry still goes where the first try went.
      await bus.register({ id: "late", role: "central", durable: false, instance: "l" });
      const retry = await bus.push(event);
      assert.deepEqual([retry.status, retry.sessions], ["pushed", targets], `stopped after ${steps} step(s)`);
      assert.equal((await bus.push(event)).status, "duplicate");
      await bus.unregister("late", "l");
    }
    for (const sid of targets) assert.deepEqual((await ids(sid)).sort(), ["f-0", "f-1", "f-2", "f-3", "f-4"], sid);
    assert.deepEqual(await ids("late"), []);
    const pushed = (await bus.journal(200)).filter((e) => e.kind === "pushed" && e.id.startsWith("f-"));
    assert.equal(pushed.length, 5);
    for (const sid of [origin, target]) await bus.unregister(sid, `i-${sid}`);
    await bus.client.del(bus.keys.events("gateway"));
    await bus.unregister("gateway", "c");
  });

  test("a second client (pub/sub) hears a PUBLISH sent to any node", async () => {
    const subscriber = bus.duplicateClient("test:sub");
    const heard: string[] = [];
    subscriber.on("message", (channel: string) => heard.push(channel));
    await subscriber.subscribe(...sessions.map((sid) => bus.keys.notify(sid)));
    // Right after connecting, ioredis may move its cluster subscriber to another node and subscribe
    // again there; a notification sent in between is lost (notifications are hints: the consumers'
    // safety-net poll finds what they announce). So each channel is published to until it is heard.
    const channels = sessions.map((sid) => bus.keys.notify(sid));
    await waitFor(
      async () => {
        for (const channel of channels) if (!heard.includes(channel)) await bus.client.publish(channel, "{}");
        await sleep(200);
        return channels.every((channel) => heard.includes(channel));
      },
      "every notification",
      10_000,
    );
    subscriber.disconnect();
  });

  test("the daemon's command queue runs in its session's slot", async () => {
    for (const sid of sessions) {
      const queue = bus.commandQueue(sid);
      await queue.init();
      assert.equal(await queue.enqueue("event", `c-${sid}`, "{}"), "queued");
      assert.equal(await queue.enqueue("event", `c-${sid}`, "{}"), "duplicate");
      const { heads } = await queue.take(Date.now());
      assert.equal(heads[0]?.command, "{}");
      await queue.begin([`c-${sid}`]);
      await queue.deadLetter([{ priority: "event", streamId: heads[0]!.streamId, id: `c-${sid}` }], { id: `c-${sid}`, json: "{}" }, "test");
      assert.equal((await queue.depth()).event, 0);
    }
  });

  test("REDIS_URL's node down: the REDIS_CLUSTER_NODES seeds answer for it", async () => {
    const down = `redis://127.0.0.1:${await freePort()}`;
    const other = await GatewayBus.connect({ redisUrl: down, clusterNodes: cluster.seeds.slice(2) });
    try {
      assert.equal(other.keys.cluster, true);
      assert.equal(await other.pending(sessions[0]!), await bus.pending(sessions[0]!));
    } finally {
      await other.close();
    }
  });
});
