/**
 * Durable schedules (src/bus/schedules.ts): stored in Redis, fired exactly once per due time even
 * with several tickers racing or a ticker dying between push and advance, a recurring schedule
 * missed for hours fires once, and the firing goes to the scheduling session only.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { GatewayBus } from "../../src/bus/bus.js";
import { firingEventId, type NewSchedule } from "../../src/bus/schedules.js";
import { startScheduleTicker } from "../../src/host/schedule-ticker.js";
import { silentLogger } from "../../src/util/logger.js";
import type { RedisServer } from "../helpers/redis-server.js";
import { useRedisBus } from "../helpers/redis-bus.js";
import { sleep, waitFor } from "../helpers/wait.js";

let redis: RedisServer;
let bus: GatewayBus;
const extra: GatewayBus[] = [];

useRedisBus({ flushEach: true }, (r, b) => {
  redis = r;
  bus = b;
});
after(async () => {
  for (const b of extra) await b.close();
});

async function register(id: string, role: "central" | "satellite" = "central"): Promise<void> {
  await bus.register({ id, role, durable: true, instance: `i-${id}` });
}

function once(id: string, due: number, session = "gateway"): NewSchedule {
  return { id, session, text: `wake ${id}`, kind: "at", at: due, due, createdBy: "test" };
}

/** The events waiting in a session's queue, oldest first. */
async function queued(sid: string): Promise<Array<{ id: string; type: string; payload: Record<string, unknown> }>> {
  return (await bus.client.lrange(bus.keys.events(sid), 0, -1)).reverse().map((raw) => JSON.parse(raw));
}

async function connectMore(n: number): Promise<GatewayBus[]> {
  const buses = await Promise.all(Array.from({ length: n }, () => GatewayBus.connect({ redisUrl: redis.url })));
  extra.push(...buses);
  return buses;
}

describe("schedule store", () => {
  test("add, list (soonest first), replace by id, remove; unknown sessions refused unless forced", async () => {
    await register("gateway");
    const now = Date.now();
    await bus.schedules.add(once("later", now + 60_000));
    const { replaced } = await bus.schedules.add(once("sooner", now + 1_000));
    assert.equal(replaced, false);
    assert.deepEqual(
      (await bus.schedules.list()).map((s) => s.id),
      ["sooner", "later"],
    );
    const again = await bus.schedules.add({ ...once("later", now + 500), text: "changed" });
    assert.equal(again.replaced, true);
    const listed = await bus.schedules.list();
    assert.deepEqual(
      listed.map((s) => [s.id, s.text, s.nextDue]),
      [
        ["later", "changed", now + 500],
        ["sooner", "wake sooner", now + 1_000],
      ],
    );
    await assert.rejects(bus.schedules.add(once("x", now + 1_000, "nobody")), /unknown session "nobody"/);
    await bus.schedules.add(once("x", now + 2_000, "nobody"), { force: true });
    assert.equal(await bus.schedules.remove("later"), true);
    assert.equal(await bus.schedules.remove("later"), false, "a second remove finds nothing");
    assert.deepEqual(
      (await bus.schedules.list()).map((s) => s.id),
      ["sooner", "x"],
    );
    const generated = await bus.schedules.add({ ...once("", now + 1_000), id: undefined });
    assert.match(generated.schedule.id, /^[0-9a-f]{8}$/);
  });

  test("a due one-shot fires once, to the scheduling session only, and is gone", async () => {
    await register("gateway");
    await register("sat-1", "satellite");
    const due = Date.now() - 10;
    await bus.schedules.add(once("nap", due, "sat-1"));
    await bus.schedules.add(once("future", Date.now() + 60_000, "sat-1"));
    const firings = await bus.schedules.fireDue();
    assert.deepEqual(
      firings.map((f) => [f.id, f.push, f.advanced]),
      [["nap", "pushed", true]],
    );
    const events = await queued("sat-1");
    assert.equal(events.length, 1);
    assert.equal(events[0]!.id, firingEventId("nap", due));
    assert.equal(events[0]!.type, "schedule.fired");
    assert.equal(events[0]!.payload.text, "wake nap");
    assert.equal(events[0]!.payload.dueAt, due);
    assert.deepEqual(await queued("gateway"), [], "the central does not get a satellite's wake-up");
    assert.deepEqual(
      (await bus.schedules.list()).map((s) => s.id),
      ["future"],
    );
    assert.deepEqual(await bus.schedules.fireDue(), [], "nothing fires twice");
  });

  test("a session gone for good: the firing goes to the centrals instead of being dropped", async () => {
    await register("gateway");
    await bus.schedules.add(once("orphan", Date.now() - 1, "reaped-sat"), { force: true });
    await bus.schedules.fireDue();
    assert.equal((await queued("gateway")).length, 1);
  });

  test("a recurring schedule missed for hours fires once, then waits for its next run", async () => {
    await register("gateway");
    const threeHoursAgo = Date.now() - 3 * 3_600_000;
    await bus.schedules.add({ id: "minutely", session: "gateway", text: "tick", kind: "cron", cron: "* * * * *", due: threeHoursAgo, createdBy: "test" });
    await bus.schedules.fireDue();
    await bus.schedules.fireDue();
    const events = await queued("gateway");
    assert.equal(events.length, 1, "180 missed runs fire once");
    assert.equal(events[0]!.payload.cron, "* * * * *");
    const [schedule] = await bus.schedules.list();
    assert.ok(schedule!.nextDue! > Date.now() && schedule!.nextDue! <= Date.now() + 60_000, `next run within the minute: ${schedule!.nextDue}`);
  });

  test("an unreadable definition is dropped instead of blocking the ticker", async () => {
    await bus.client.hset(bus.keys.schedules, "broken", "{not json");
    await bus.client.zadd(bus.keys.schedulesDue, Date.now() - 1, "broken");
    const [firing] = await bus.schedules.fireDue();
    assert.deepEqual([firing!.push, firing!.advanced], ["skipped", true]);
    assert.equal(await bus.schedules.nextDue(), null);
  });
});

describe("exactly once under races and crashes", () => {
  test("three tickers racing over 150 due schedules (100 one-shots, 50 recurring) fire each once", async () => {
    await register("gateway");
    const due = Date.now() - 1_000;
    for (let i = 0; i < 100; i++) await bus.schedules.add(once(`once-${i}`, due - i));
    for (let i = 0; i < 50; i++) {
      await bus.schedules.add({ id: `cron-${i}`, session: "gateway", text: "c", kind: "cron", cron: "0 0 1 1 *", due: due - i, createdBy: "test" });
    }
    const tickers = await connectMore(3);
    const results = await Promise.all(tickers.map((b) => b.schedules.fireDue()));
    const all = results.flat();
    const events = await queued("gateway");
    assert.equal(events.length, 150, "every due time pushed exactly once");
    assert.equal(new Set(events.map((e) => e.id)).size, 150);
    assert.equal(all.filter((f) => f.push === "pushed").length, 150);
    const advancedPerId = new Map<string, number>();
    for (const f of all) if (f.advanced) advancedPerId.set(f.id, (advancedPerId.get(f.id) ?? 0) + 1);
    assert.equal(advancedPerId.size, 150);
    assert.ok(
      [...advancedPerId.values()].every((n) => n === 1),
      "one ticker advanced each",
    );
    const left = await bus.schedules.list();
    assert.equal(left.length, 50, "the one-shots are gone, the recurring ones stay");
    assert.ok(left.every((s) => s.nextDue! > Date.now()));
    await Promise.all(tickers.map((b) => b.schedules.fireDue()));
    assert.equal((await queued("gateway")).length, 150, "a second round fires nothing");
  });

  test("a ticker that dies between push and advance: the next one does not fire again", async () => {
    await register("gateway");
    const due = Date.now() - 5;
    const { schedule } = await bus.schedules.add(once("crash", due));
    assert.equal((await bus.schedules.pushFired(schedule, due, Date.now())).status, "pushed");
    // ... the ticker dies here: the schedule is still due.
    const [other] = await connectMore(1);
    const [firing] = await other!.schedules.fireDue();
    assert.deepEqual([firing!.push, firing!.advanced], ["duplicate", true]);
    assert.equal((await queued("gateway")).length, 1);
    assert.equal(await bus.schedules.advance("crash", due, null), false, "the late advance of the dead ticker changes nothing");
  });

  test("a schedule replaced between push and advance keeps its new time", async () => {
    await register("gateway");
    const due = Date.now() - 5;
    const { schedule } = await bus.schedules.add(once("moved", due));
    await bus.schedules.pushFired(schedule, due, Date.now());
    const later = Date.now() + 60_000;
    await bus.schedules.add(once("moved", later));
    assert.equal(await bus.schedules.advance("moved", due, null), false);
    assert.equal((await bus.schedules.list())[0]?.nextDue, later);
  });
});

describe("schedule ticker", () => {
  test("fires a schedule about when it is due, only while owning", async () => {
    await register("gateway");
    let owner = false;
    const [tickerBus] = await connectMore(1);
    const ticker = startScheduleTicker(tickerBus!, () => owner, silentLogger);
    try {
      await bus.schedules.add(once("soon", Date.now() + 300));
      await sleep(1_500);
      assert.equal((await queued("gateway")).length, 0, "a non-owner fires nothing");
      owner = true;
      const ownedAt = Date.now();
      const firedAt = await waitFor(async () => ((await queued("gateway")).length ? Date.now() : 0), "the firing", 3_000);
      assert.ok(firedAt - ownedAt < 1_500, `fired ${firedAt - ownedAt}ms after taking ownership`);
    } finally {
      await ticker.stop();
    }
  });

  test("lives through a Redis outage (no crash, no busy loop) and fires once Redis is back", async () => {
    const tickerBus = await GatewayBus.connect({ redisUrl: redis.url, persistent: true });
    extra.push(tickerBus);
    let rounds = 0;
    const ticker = startScheduleTicker(tickerBus, () => (rounds++, true), silentLogger);
    try {
      await redis.kill();
      await sleep(2_000);
      assert.ok(rounds < 20, `no busy loop while Redis is down (${rounds} rounds in 2s)`);
      await redis.restart();
      await waitFor(() => bus.client.ping().catch(() => undefined), "the fixture's reconnect");
      await register("gateway");
      await bus.schedules.add(once("after-outage", Date.now() - 1));
      await waitFor(async () => (await bus.client.llen(bus.keys.events("gateway"))) === 1, "the firing after the outage", 15_000);
    } finally {
      await ticker.stop();
    }
  });
});
