/**
 * GET /metrics: the daemon's state as Prometheus text, token-protected like /api/status; and the
 * text itself (names, types, labels escaped, a missing figure as 0).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { BusStatus } from "../../src/bus/bus.js";
import { createHttpApp } from "../../src/channels/http/app.js";
import { prometheusText } from "../../src/daemon/metrics.js";
import type { DaemonStatus } from "../../src/daemon/types.js";

const TOKEN = "metrics-test-token-0123456789";
const daemon: DaemonStatus = {
  state: "busy",
  queue: { human: 1, event: 12, heartbeat: 0 },
  load: { oldestEventAgeMs: 2_500, windowSeconds: 60, turns: 30, turnsPerSecond: 0.5, eventsPerTurn: 8.25 },
  processed: 42,
  lastHeartbeat: 1_700_000_000_000,
};
const bus = { backlog: { gateway: 3, 'we"ird\\q\nx': 1 }, deadLetters: 2, duplicates: 5, lastHeartbeat: 1_700_000_000_000 } as unknown as BusStatus;

test("the Prometheus text: every figure with HELP and TYPE, labels escaped", () => {
  const text = prometheusText(daemon, bus, { rss: 150 * 1024 * 1024, heapUsed: 40 } as NodeJS.MemoryUsage);
  const samples = text.split("\n").filter((l) => l && !l.startsWith("#"));
  assert.deepEqual(samples, [
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
    "pi_gateway_duplicates_total 5",
    "pi_gateway_last_heartbeat_timestamp_seconds 1700000000",
    "pi_gateway_resident_memory_bytes 157286400",
    "pi_gateway_heap_used_bytes 40",
  ]);
  assert.match(text, /^# TYPE pi_gateway_turns_processed_total counter$/m);
  assert.match(text, /^# HELP pi_gateway_events_per_turn /m);
  assert.ok(text.endsWith("\n"));
  const idle = prometheusText({ ...daemon, state: "idle", load: { ...daemon.load!, oldestEventAgeMs: null, eventsPerTurn: null } }, bus);
  assert.match(idle, /^pi_gateway_oldest_event_age_seconds 0$/m, "no event waiting: 0");
  assert.match(idle, /^pi_gateway_events_per_turn 0$/m, "no event turn: 0");
  assert.match(idle, /^pi_gateway_busy 0$/m);
});

test("/metrics needs the token (header or ?token=); 503 without a token or without a daemon", async () => {
  const app = createHttpApp({ token: TOKEN, metrics: async () => prometheusText(daemon, bus) });
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
