/**
 * GET /metrics: the daemon's prom-client registry as Prometheus text, token-protected like
 * /api/status; and the text itself (names, types, labels escaped, a missing figure as 0, the
 * counters the daemon feeds, Node's process metrics).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { GatewayBus, type BusStatus } from "../../src/bus/bus.js";
import { createHttpApp } from "../../src/channels/http/app.js";
import { DaemonMetrics } from "../../src/daemon/metrics.js";
import type { DaemonStatus } from "../../src/daemon/types.js";
import { useRedisBus } from "../helpers/redis-bus.js";
import { waitFor } from "../helpers/wait.js";

const TOKEN = "metrics-test-token-0123456789";
let redisUrl = "";
useRedisBus({}, (redis) => {
  redisUrl = redis.url;
});
const daemon: DaemonStatus = {
  state: "busy",
  queue: { human: 1, event: 12, heartbeat: 0 },
  load: { oldestEventAgeMs: 2_500, windowSeconds: 60, turns: 30, turnsPerSecond: 0.5, eventsPerTurn: 8.25 },
  processed: 42,
  lastHeartbeat: 1_700_000_000_000,
};
const bus = { backlog: { gateway: 3, 'we"ird\\q\nx': 1 }, deadLetters: 2, duplicates: 5, pushed: 7, lastHeartbeat: 1_700_000_000_000 } as unknown as BusStatus;

/** The samples (no comment lines) of the metrics named, in order. */
function samples(text: string, ...names: string[]): string[] {
  return text.split("\n").filter((line) => names.some((name) => line.startsWith(`${name} `) || line.startsWith(`${name}{`)));
}

const snapshot = async () => ({ daemon, bus });

test("the status figures: every one with HELP and TYPE, labels escaped, a missing figure as 0", async () => {
  const text = await new DaemonMetrics({ processMetrics: false }).text(snapshot);
  const ours = text.split("\n").filter((l) => l.startsWith("pi_gateway_") && !/_(delivered|dead_lettered)_total|turn_duration|reconnects/.test(l));
  assert.deepEqual(ours, [
    'pi_gateway_queue_depth{priority="human"} 1',
    'pi_gateway_queue_depth{priority="event"} 12',
    'pi_gateway_queue_depth{priority="heartbeat"} 0',
    "pi_gateway_oldest_event_age_seconds 2.5",
    "pi_gateway_turns_per_second 0.5",
    "pi_gateway_events_per_turn 8.25",
    "pi_gateway_turns_processed_total 42",
    "pi_gateway_busy 1",
    'pi_gateway_bus_backlog{queue="gateway"} 3',
    'pi_gateway_bus_backlog{queue="we\\"ird\\\\q\\nx"} 1',
    "pi_gateway_dead_letters 2",
    "pi_gateway_events_pushed_total 7",
    "pi_gateway_duplicates_total 5",
    "pi_gateway_last_heartbeat_timestamp_seconds 1700000000",
  ]);
  assert.match(text, /^# TYPE pi_gateway_turns_processed_total counter$/m);
  assert.match(text, /^# HELP pi_gateway_events_per_turn /m);
  assert.ok(text.endsWith("\n"));
  const idle = await new DaemonMetrics({ processMetrics: false }).text(async () => ({
    daemon: { ...daemon, state: "idle", load: { ...daemon.load!, oldestEventAgeMs: null, eventsPerTurn: null, turnsPerSecond: Number.NaN } },
    bus: { ...bus, lastHeartbeat: null },
  }));
  assert.match(idle, /^pi_gateway_oldest_event_age_seconds 0$/m, "no event waiting: 0");
  assert.match(idle, /^pi_gateway_events_per_turn 0$/m, "no event turn: 0");
  assert.match(idle, /^pi_gateway_turns_per_second 0$/m, "not a number: 0");
  assert.match(idle, /^pi_gateway_last_heartbeat_timestamp_seconds 0$/m, "never: 0");
  assert.match(idle, /^pi_gateway_busy 0$/m);
});

test("the live heap: the watch's figure, 0 before the first full GC, absent without a watch", async () => {
  const watch: { bytes?: number } = {};
  const metrics = new DaemonMetrics({ processMetrics: false, liveHeap: () => watch.bytes });
  assert.deepEqual(samples(await metrics.text(snapshot), "pi_gateway_heap_live_bytes"), ["pi_gateway_heap_live_bytes 0"]);
  watch.bytes = 54_800_000;
  assert.deepEqual(samples(await metrics.text(snapshot), "pi_gateway_heap_live_bytes"), ["pi_gateway_heap_live_bytes 54800000"]);
  assert.match(await metrics.text(snapshot), /^# TYPE pi_gateway_heap_live_bytes gauge$/m);
  assert.deepEqual(samples(await new DaemonMetrics({ processMetrics: false }).text(snapshot), "pi_gateway_heap_live_bytes"), []);
});

test("a queue that disappears between scrapes loses its label instead of keeping its old value", async () => {
  const metrics = new DaemonMetrics({ processMetrics: false });
  assert.equal(samples(await metrics.text(snapshot), "pi_gateway_bus_backlog").length, 2);
  const later = await metrics.text(async () => ({ daemon, bus: { ...bus, backlog: { main: 0 } } }));
  assert.deepEqual(samples(later, "pi_gateway_bus_backlog"), ['pi_gateway_bus_backlog{queue="main"} 0']);
});

test("the counters the daemon feeds: events delivered and dead-lettered, turn duration per priority, Redis reconnects", async () => {
  const metrics = new DaemonMetrics({ processMetrics: false });
  const before = await metrics.text(snapshot);
  assert.deepEqual(samples(before, "pi_gateway_events_delivered_total", "pi_gateway_events_dead_lettered_total", "pi_gateway_redis_reconnects_total"), [
    "pi_gateway_events_delivered_total 0",
    "pi_gateway_events_dead_lettered_total 0",
    "pi_gateway_redis_reconnects_total 0",
  ]);
  metrics.eventsDelivered(3);
  metrics.eventsDelivered(0);
  metrics.eventsDelivered(-2); // never counts down
  metrics.deadLettered(2);
  metrics.turnEnded("event", 0.3);
  metrics.turnEnded("event", 7);
  metrics.turnEnded("human", Number.NaN); // a broken clock is not a turn
  metrics.turnEnded("human", -1);
  metrics.redisReconnecting();
  metrics.redisReconnecting();
  const after = await metrics.text(snapshot);
  assert.match(after, /^pi_gateway_events_delivered_total 3$/m);
  assert.match(after, /^pi_gateway_events_dead_lettered_total 2$/m);
  assert.match(after, /^pi_gateway_redis_reconnects_total 2$/m);
  assert.match(after, /^# TYPE pi_gateway_turn_duration_seconds histogram$/m);
  assert.match(after, /^pi_gateway_turn_duration_seconds_bucket\{le="0.5",priority="event"\} 1$/m);
  assert.match(after, /^pi_gateway_turn_duration_seconds_bucket\{le="10",priority="event"\} 2$/m);
  assert.match(after, /^pi_gateway_turn_duration_seconds_count\{priority="event"\} 2$/m);
  assert.match(after, /^pi_gateway_turn_duration_seconds_sum\{priority="event"\} 7.3$/m);
  assert.doesNotMatch(after, /^pi_gateway_turn_duration_seconds_count\{priority="human"\}/m, "no human turn was observed");
});

test("Node's default process metrics are included (memory, CPU, event loop)", async () => {
  const text = await new DaemonMetrics().text(snapshot);
  assert.match(text, /^# TYPE process_resident_memory_bytes gauge$/m);
  assert.match(text, /^nodejs_heap_size_used_bytes \d+/m);
  assert.match(text, /^process_cpu_seconds_total \d/m);
});

test("/metrics needs the token (header or ?token=); 503 without a token or without a daemon", async () => {
  const app = createHttpApp({ token: TOKEN, metrics: () => new DaemonMetrics({ processMetrics: false }).text(snapshot) });
  assert.equal((await app.request("/metrics")).status, 401);
  assert.equal((await app.request("/metrics?token=wrong")).status, 401);
  const ok = await app.request("/metrics", { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  assert.match(await ok.text(), /^pi_gateway_queue_depth\{priority="event"\} 12$/m);
  assert.equal((await app.request(`/metrics?token=${TOKEN}`)).status, 200);
  assert.equal((await createHttpApp({ metrics: async () => "" }).request("/metrics")).status, 503, "no token configured");
  assert.equal((await createHttpApp({ token: TOKEN }).request(`/metrics?token=${TOKEN}`)).status, 503, "no daemon here");
});

test("a dropped Redis connection counts as a reconnect (bus.onReconnecting), and the bus works again", async () => {
  const metrics = new DaemonMetrics({ processMetrics: false });
  const bus = await GatewayBus.connect({ redisUrl, persistent: true, name: "metrics-reconnect" });
  const killer = await GatewayBus.connect({ redisUrl, name: "metrics-killer" });
  try {
    bus.onReconnecting(() => metrics.redisReconnecting());
    await killer.client.call("CLIENT", "KILL", "ID", String(await bus.client.client("ID")));
    await waitFor(async () => /^pi_gateway_redis_reconnects_total [1-9]/m.test(await metrics.text(snapshot)), "the reconnect counted");
    assert.equal(await bus.client.ping(), "PONG");
  } finally {
    await killer.close();
    await bus.close();
  }
});
