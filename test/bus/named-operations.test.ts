/**
 * The named operations that replaced raw client calls outside src/bus (issue #14): each at its
 * edges (empty, unset, twice, after the connection ended), checked against what Redis holds.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { GatewayBus } from "../../src/bus/bus.js";
import { resolveBusOptions } from "../../src/config/bus-options.js";
import { createEvent } from "../../src/protocol/event.js";
import type { RedisServer } from "../helpers/redis-server.js";
import { useRedisBus } from "../helpers/redis-bus.js";
import { waitFor } from "../helpers/wait.js";

let redis: RedisServer;
let bus: GatewayBus;
useRedisBus({ aof: true, flushEach: true }, (r, b) => {
  redis = r;
  bus = b;
});

test("dead letters: counted and purged, also when there are none (purging twice is fine)", async () => {
  assert.equal(await bus.deadLetterCount(), 0);
  await bus.purgeDeadLetters();
  await bus.client.lpush(bus.keys.events("q"), "not json", "[]");
  await bus.claim("q");
  assert.equal(await bus.deadLetterCount(), 2);
  await bus.purgeDeadLetters();
  await bus.purgeDeadLetters();
  assert.equal(await bus.deadLetterCount(), 0);
  assert.deepEqual(await bus.deadLetters(), []);
});

test("sharedConfig: empty when unset, every field as written otherwise (also odd values)", async () => {
  assert.deepEqual(await bus.sharedConfig(), {});
  await bus.client.hset(bus.keys.config, "watchdogThreshold", "90m", "empty", "", "weird", "é\n{");
  assert.deepEqual(await bus.sharedConfig(), { watchdogThreshold: "90m", empty: "", weird: "é\n{" });
});

test("recordWatchdog: `sessions` and `status` show the state; a second write replaces the first", async () => {
  await bus.register({ id: "gateway", role: "central", durable: true, instance: "i1" });
  await bus.recordWatchdog("gateway", "armed", 5_400_000);
  await bus.recordWatchdog("gateway", "alarm", 60_000);
  const [session] = await bus.sessions();
  assert.equal(session?.watchdog, "alarm");
  assert.equal(session?.watchdogThresholdMs, 60_000);
  assert.equal((await bus.status()).sessions[0]?.watchdog, "alarm");
});

test("serverInfo: the version and the AOF setting, the same facts status shows", async () => {
  const info = await bus.serverInfo();
  assert.match(info.version ?? "", /^\d+\.\d+/);
  assert.equal(info.aof, true, "this suite's Redis runs with AOF");
  const status = await bus.status();
  assert.equal(status.redis.version, info.version);
  assert.equal(status.redis.aof, info.aof);
});

test("connection state: open() gives a ready bus, disconnect() ends it", async () => {
  assert.equal(bus.isReady, true);
  assert.equal(bus.connectionState, "ready");
  const opened = await GatewayBus.open(resolveBusOptions({ redisUrl: redis.url }), { name: "test:open", persistent: true });
  assert.equal(opened.isReady, true);
  assert.equal(opened.keys.cluster, false);
  assert.equal(await opened.pending("nobody"), 0);
  opened.disconnect();
  // The socket closes a moment later; the state follows it.
  await waitFor(() => !opened.isReady, "the bus no longer ready", 2_000);
  assert.equal(opened.connectionState, "end");
});

test("openPatiently: tries again while Redis is down and opens once it answers; an abort ends the wait", async () => {
  const options = resolveBusOptions({ redisUrl: redis.url, connectTimeoutMs: 1_000 });
  let down = false;
  const kill = async () => {
    down = true;
    await redis.kill("SIGKILL");
  };
  const restart = async () => {
    await redis.restart();
    down = false;
  };
  try {
    await kill();
    const waits: string[] = [];
    const opening = GatewayBus.openPatiently(options, { name: "test:patient", persistent: true }, new AbortController().signal, (e) => waits.push(e.failure));
    await waitFor(() => waits.length >= 2, "two failed attempts", 10_000);
    assert.ok(
      waits.every((w) => w === "refused"),
      waits.join(),
    );
    await restart();
    const opened = await opening;
    try {
      assert.equal(opened.isReady, true);
      assert.equal(await opened.pending("nobody"), 0);
    } finally {
      opened.disconnect();
    }
    const abort = new AbortController();
    await kill();
    const aborted = GatewayBus.openPatiently(options, { name: "test:aborted", persistent: true }, abort.signal, () => abort.abort());
    await assert.rejects(aborted, { name: "AbortError" });
    await restart();
    // A client left behind would reconnect within its backoff (100 ms, then 200 ms...).
    await sleep(1_000);
    assert.doesNotMatch(String(await bus.client.client("LIST")), /name=test:aborted/);
  } finally {
    // The later tests need their Redis, whatever happened here.
    if (down) await redis.restart();
  }
});

test("journalReader: nothing new within the wait is an empty list; new entries come in order; close ends a waiting read", async () => {
  const reader = await bus.journalReader("test:journal");
  try {
    assert.deepEqual(await reader.next("0-0", 50), []);
    await bus.push(createEvent("t.a", "s", {}, { id: "a" }));
    await bus.push(createEvent("t.b", "s", {}, { id: "b" }));
    const entries = await reader.next("0-0", 50);
    assert.deepEqual(
      entries.map((e) => [e.kind, e.id]),
      [
        ["pushed", "a"],
        ["pushed", "b"],
      ],
    );
    assert.deepEqual(await reader.next(entries.at(-1)!.streamId, 50), [], "nothing after the last one");
    const waiting = reader.next(entries.at(-1)!.streamId, 5_000);
    reader.close();
    await assert.rejects(waiting);
  } finally {
    reader.close();
  }
});

test("commandQueue: each session id has its own queue; status's read of another id's load is all zeros", async () => {
  const mine = bus.commandQueue("gateway");
  const other = bus.commandQueue("other");
  await mine.init();
  await other.init();
  assert.equal(await mine.enqueue("human", "c1", JSON.stringify({ id: "c1" })), "queued");
  assert.equal(await mine.enqueue("human", "c1", JSON.stringify({ id: "c1" })), "duplicate");
  assert.equal(await other.enqueue("human", "c1", JSON.stringify({ id: "c1" })), "queued", "another id's seen set is its own");
  assert.deepEqual((await mine.load()).depth, { human: 1, event: 0, heartbeat: 0 });
  const unused = await bus.commandQueue("never-used").load();
  assert.deepEqual(unused.depth, { human: 0, event: 0, heartbeat: 0 });
  assert.equal(unused.oldestEventAgeMs, null);
  assert.equal(unused.eventsPerTurn, null);
});
