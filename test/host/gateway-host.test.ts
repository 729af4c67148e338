/**
 * The host shared by the extension and the daemon, against a real Redis, with a recording adapter
 * in place of pi: heartbeats recorded and never competing with real work, the central watchdog
 * (Redis's last heartbeat and config, its state published only by the owner), ownership reports,
 * the restart tripwire, and the reply journal without HEARTBEAT_OK.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { afterEach, beforeEach, describe, test } from "node:test";
import { GatewayBus } from "../../src/bus/bus.js";
import { GatewayHost, type HostAdapter, type HostMessage, type OwnershipChange } from "../../src/host/gateway-host.js";
import { createEvent } from "../../src/protocol/event.js";
import { silentLogger } from "../../src/util/logger.js";
import type { RedisServer } from "../helpers/redis-server.js";
import { useRedisBus } from "../helpers/redis-bus.js";
import { sleep, waitFor } from "../helpers/wait.js";

let redis: RedisServer;
let bus: GatewayBus;
useRedisBus({ flushEach: true }, (r, b) => {
  redis = r;
  bus = b;
});

const cleanups: Array<() => Promise<void>> = [];
let savedThreshold: string | undefined;
beforeEach(() => {
  // The Redis config applies only where the environment sets no threshold.
  savedThreshold = process.env.GATEWAY_WATCHDOG_THRESHOLD;
  delete process.env.GATEWAY_WATCHDOG_THRESHOLD;
});
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
  if (savedThreshold !== undefined) process.env.GATEWAY_WATCHDOG_THRESHOLD = savedThreshold;
});

interface Recorder {
  host: GatewayHost;
  hostBus: GatewayBus;
  messages: HostMessage[];
  changes: OwnershipChange[];
  notices: string[];
  setBusy(busy: boolean): void;
}

async function startHost(
  options: { role?: "central" | "satellite"; thresholdMs?: number; announceRestarts?: boolean; start?: boolean } = {},
): Promise<Recorder> {
  const hostBus = await GatewayBus.connect({ redisUrl: redis.url, persistent: true, pollIntervalMs: 100, presenceTtlMs: 600 });
  let busy = false;
  const recorder = { messages: [], changes: [], notices: [], setBusy: (b: boolean) => (busy = b) } as unknown as Recorder;
  const adapter: HostAdapter = {
    deliver: async (message) => void recorder.messages.push(message),
    busy: () => busy,
    alreadyDelivered: () => new Set(),
    ownership: (change) => void recorder.changes.push(change),
    notify: (message) => void recorder.notices.push(message),
  };
  const role = options.role ?? "central";
  const session = {
    sessionId: role === "central" ? "gateway" : "pid-1",
    role,
    durable: role === "central",
    heartbeatFile: "/srv/HEARTBEAT.md",
    watchdogThresholdMs: options.thresholdMs ?? 60_000,
    watchdogCheckMs: 50,
  };
  recorder.host = new GatewayHost({ bus: hostBus, session, kind: "pi", announceRestarts: options.announceRestarts, logger: silentLogger }, adapter);
  recorder.hostBus = hostBus;
  cleanups.push(async () => {
    await recorder.host.stop();
    await hostBus.close();
  });
  if (options.start !== false) await recorder.host.start();
  return recorder;
}

const beat = (id: string) => createEvent("cron.heartbeat", "cron", {}, { id });
const drained = async (queue: string) => (await bus.pending(queue)) === 0 && (await bus.client.hlen(bus.keys.inflight(queue))) === 0;

describe("gateway host", () => {
  test("heartbeats: recorded in Redis and shown while idle; while busy only recorded and counted; real events always shown", async () => {
    const r = await startHost();
    await bus.push(beat("hb-idle"));
    await waitFor(() => r.messages.length === 1, "the heartbeat message");
    assert.equal(r.messages[0]!.kind, "heartbeat");
    assert.match(r.messages[0]!.text, /read \/srv\/HEARTBEAT.md/);
    const first = await bus.lastHeartbeat();
    assert.ok(first, "recorded");

    r.setBusy(true);
    await sleep(5);
    await bus.push(beat("hb-busy"));
    await waitFor(async () => ((await bus.lastHeartbeat()) ?? 0) > first && (await drained("gateway")), "recorded and acknowledged while busy");
    assert.equal(r.messages.length, 1, "no heartbeat turn while busy");
    assert.equal(r.host.heartbeatsSkipped, 1);

    await bus.push(createEvent("job.done", "worker", {}, { id: "job-busy" }));
    await waitFor(() => r.messages.length === 2, "a real event while busy");
    assert.deepEqual(r.messages[1]!.kind === "alarm" ? [] : r.messages[1]!.ids, ["job-busy"]);
  });

  test("watchdog: counts from Redis's last heartbeat, takes its threshold from the Redis config, alarms through the adapter once", async () => {
    await bus.recordHeartbeat(Date.now() - 10_000);
    const quiet = await startHost({ thresholdMs: 60_000 });
    await waitFor(async () => (await bus.sessions()).find((s) => s.id === "gateway")?.watchdog === "armed", "watchdog state published");
    await sleep(300);
    assert.equal(quiet.messages.length, 0, "10 s is within the 60 s threshold");
    assert.equal((await bus.sessions()).find((s) => s.id === "gateway")?.watchdogThresholdMs, 60_000);

    await bus.client.hset(bus.keys.config, "watchdogThreshold", "5s");
    await waitFor(() => quiet.messages.length === 1, "the alarm under the threshold from Redis");
    const alarm = quiet.messages[0]!;
    assert.equal(alarm.kind, "alarm");
    assert.match(alarm.text, /MISSED HEARTBEAT/);
    assert.match(alarm.text, /threshold 5s/);
    assert.match(quiet.notices.join("\n"), /gateway: no heartbeat for 1\d(\.\d)?s/);
    await sleep(300);
    assert.equal(quiet.messages.length, 1, "once, not on every check");
    await waitFor(async () => (await bus.sessions()).find((s) => s.id === "gateway")?.watchdog === "alarm", "alarm state published");
  });

  test("a satellite runs no watchdog", async () => {
    const r = await startHost({ role: "satellite", thresholdMs: 100 });
    await sleep(400);
    assert.equal(r.host.watchdog, undefined);
    assert.equal(r.messages.length, 0);
  });

  test("ownership: a bare acquire() of a held id reports nothing, start() does; the watchdog waits for the lease, then starts", async () => {
    const holder = { id: "gateway", role: "central" as const, durable: true, instance: "other", kind: "daemon" };
    const holderBus = new GatewayBus(bus.client, { ...bus.options, presenceTtlMs: 600 });
    await holderBus.register(holder);
    const renew = setInterval(() => void holderBus.register(holder).catch(() => undefined), 150);
    cleanups.push(async () => clearInterval(renew));
    const r = await startHost({ start: false });
    assert.equal(await r.host.acquire(), false);
    assert.equal(r.changes.length, 0, "acquire() is the caller's to report");
    await r.host.start();
    assert.equal(r.changes[0]?.kind, "held");
    assert.equal(r.changes[0]?.kind === "held" && r.changes[0].holder.instance, "other");
    assert.equal(r.host.watchdog?.state, "stopped", "no watchdog runs while the id is held");
    await bus.push(createEvent("while.held", "t", {}, { id: "while-held" }));
    await sleep(400);
    assert.equal(r.messages.length, 0, "nothing drained while held");
    assert.equal((await bus.sessions()).find((s) => s.id === "gateway")?.watchdog, undefined, "a non-owner publishes no watchdog");

    clearInterval(renew);
    await waitFor(() => r.changes.some((c) => c.kind === "acquired" && c.waited), "took the id once the holder's lease ran out", 5_000);
    await waitFor(() => r.messages.some((m) => m.kind === "events" && m.ids.includes("while-held")), "drained once owner");
    await waitFor(async () => (await bus.sessions()).find((s) => s.id === "gateway")?.watchdog === "armed", "the owner publishes its watchdog");
    assert.equal(r.host.watchdog?.state, "armed");
  });

  test("tripwire: a predecessor that died is announced to the session when asked (extension), only logged otherwise (daemon)", async () => {
    const dead = spawnSync("true").pid;
    const crashed = { id: "gateway", role: "central" as const, durable: true, instance: "crashed", kind: "pi", pid: dead };
    await bus.register(crashed);
    const quiet = await startHost({ announceRestarts: false });
    await sleep(500);
    assert.deepEqual(quiet.notices, []);
    assert.equal(quiet.messages.length, 0, "nothing pushed");
    await quiet.host.stop();

    await bus.client.flushall();
    await bus.register(crashed);
    const loud = await startHost({ announceRestarts: true });
    await waitFor(
      () => loud.messages.some((m) => m.kind === "events" && m.shown[0]?.type === "gateway.session.restarted"),
      "the restart event delivered to the session",
    );
    assert.match(loud.notices.join("\n"), new RegExp(`the previous gateway session \\(pid ${dead} on .+\\) died without shutting down`));
  });

  test("journalReply: HEARTBEAT_OK in its forms goes nowhere; real news is journaled for the session; a journal failure does not throw", async () => {
    const r = await startHost({ start: false });
    for (const text of ["HEARTBEAT_OK", "**HEARTBEAT_OK**", "  `HEARTBEAT_OK`.", "Checked everything. HEARTBEAT_OK"]) {
      await r.host.journalReply({ id: `b-${text}`, channel: "extension", types: ["cron.heartbeat"], text });
    }
    await r.host.journalReply({ id: "b-news", channel: "extension", types: ["cron.heartbeat"], sources: ["cron"], text: "Disk is 97% full.\nDetails follow." });
    await r.host.journalReply({ id: "b-empty", channel: "extension", text: "" });
    const replied = (await bus.journal(100)).filter((e) => e.kind === "replied");
    assert.deepEqual(
      replied.map((e) => [e.id, e.reply, e.sessions]),
      [
        ["b-news", "Disk is 97% full.", ["gateway"]],
        ["b-empty", "", ["gateway"]],
      ],
    );
    await r.hostBus.close();
    await r.host.journalReply({ id: "b-late", channel: "extension", text: "after the bus closed" });
  });
});
