/**
 * Dedup sets are bounded by count as well as by time (GATEWAY_DEDUP_MAX): the bus's pushed and
 * delivered sets and the daemon's seen/done sets keep only their newest ids, trimmed atomically in
 * the script that adds to them. The trade-off: a re-send of an id older than the cap's reach is
 * delivered again.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { GatewayBus } from "../../src/bus/bus.js";
import { DEFAULT_BUS_OPTIONS, resolveBusOptions } from "../../src/config/bus-options.js";
import { CommandQueue } from "../../src/daemon/command-queue.js";
import type { GatewayEvent } from "../../src/protocol/event.js";
import { useRedisBus } from "../helpers/redis-bus.js";

let bus: GatewayBus;
useRedisBus({ flushEach: true, bus: { dedupMax: 3 } }, (_r, b) => {
  bus = b;
});

const event = (id: string): GatewayEvent => ({ id, type: "t", source: "test", payload: {}, ts: 0 });
const members = (key: string) => bus.client.zrange(key, 0, -1);

test("pushed ids: only the newest GATEWAY_DEDUP_MAX are kept; an older id pushed again is accepted again", async () => {
  for (const id of ["e1", "e2", "e3", "e4", "e5"]) await bus.push(event(id));
  assert.deepEqual(await members(bus.keys.pushed), ["e3", "e4", "e5"]);
  assert.equal((await bus.push(event("e5"))).status, "duplicate", "within the cap: still a duplicate");
  assert.notEqual((await bus.push(event("e1"))).status, "duplicate", "beyond the cap's reach: pushed again (the documented trade-off)");
});

test("delivered ids: ack keeps only the newest GATEWAY_DEDUP_MAX; an evicted id re-sent is delivered again", async () => {
  const line = (id: string) => JSON.stringify(event(id));
  await bus.client.lpush(bus.keys.events("s1"), ...["d1", "d2", "d3", "d4", "d5"].map(line));
  const claimed = await bus.claim("s1");
  assert.equal(claimed.events.length, 5);
  await bus.ack(
    "s1",
    claimed.events.map((e) => e.id),
  );
  assert.deepEqual((await members(bus.keys.delivered("s1"))).sort(), ["d3", "d4", "d5"]);

  await bus.client.lpush(bus.keys.events("s1"), line("d5"), line("d1"));
  const again = await bus.claim("s1");
  assert.deepEqual(
    again.events.map((e) => e.id),
    ["d1"],
    "d5 is still remembered, d1 was evicted",
  );
  assert.equal(again.duplicates, 1);
});

test("daemon command queue: seen and done keep only the newest dedupMax ids", async () => {
  const queue = new CommandQueue(bus.commandQueue("gateway"), { agingMs: 60_000, collectWindowMs: 0 });
  await queue.init();
  const submit = (id: string, alsoSeen: string[] = []) => queue.submit({ id, channel: "test", text: id, priority: "event" }, alsoSeen);
  assert.equal(await submit("c1"), "queued");
  assert.equal(await submit("c2", ["c2.a", "c2.b"]), "queued");
  assert.equal(await submit("c3"), "queued");
  assert.equal(await bus.client.zcard("agent:daemon:seen"), 3);
  assert.equal(await submit("c3"), "duplicate", "within the cap");
  assert.equal(await submit("c1"), "queued", "evicted by count: stored again (the documented trade-off)");
  for (let command = await queue.take(); command; command = await queue.take()) await queue.complete(command);
  assert.equal(await bus.client.zcard("agent:daemon:done"), 3);
});

test("GATEWAY_DEDUP_MAX: default when unset or empty, a positive whole number, refused otherwise", () => {
  assert.equal(DEFAULT_BUS_OPTIONS.dedupMax, 100_000);
  assert.equal(resolveBusOptions({}, {}).dedupMax, 100_000);
  assert.equal(resolveBusOptions({}, { GATEWAY_DEDUP_MAX: "" }).dedupMax, 100_000);
  assert.equal(resolveBusOptions({}, { GATEWAY_DEDUP_MAX: "1" }).dedupMax, 1);
  for (const bad of ["0", "-5", "1.5", "many", "1e"]) {
    assert.throws(
      () => resolveBusOptions({}, { GATEWAY_DEDUP_MAX: bad }),
      /GATEWAY_DEDUP_MAX=".*" is (not a whole number|less than 1) \(expected a whole number, at least 1\)$/,
      bad,
    );
  }
});

test("memory: one uuid-sized id costs ~140 bytes, so the default cap is ~14 MB per set", async () => {
  const ids = Array.from({ length: 3000 }, (_, i) => `019b2c3d-4e5f-7a8b-9c0d-${String(i).padStart(12, "0")}`);
  await bus.client.zadd("probe", ...ids.flatMap((id) => [Date.now(), id]));
  const bytes = Number(await bus.client.call("MEMORY", "USAGE", "probe", "SAMPLES", "0"));
  const perId = bytes / ids.length;
  console.log(
    `FIGURE dedup: ${perId.toFixed(0)} B per uuid-sized id in a zset; default cap ${DEFAULT_BUS_OPTIONS.dedupMax} ≈ ${((perId * DEFAULT_BUS_OPTIONS.dedupMax) / 1e6).toFixed(1)} MB per set`,
  );
  assert.ok(perId > 50 && perId < 200, `${perId} B per id`);
});
