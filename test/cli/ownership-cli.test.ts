import assert from "node:assert/strict";
import { hostname } from "node:os";
import { test } from "node:test";
import type { GatewayBus } from "../../src/bus/bus.js";
import { runCli } from "../helpers/cli.js";
import type { RedisServer } from "../helpers/redis-server.js";
import { useRedisBus } from "../helpers/redis-bus.js";

let redis: RedisServer;
let bus: GatewayBus;

useRedisBus({ flushEach: true, bus: { presenceTtlMs: 60_000 } }, (r, b) => {
  redis = r;
  bus = b;
});

test("sessions and status name the owner of each id and who holds the central id", async () => {
  const env = { REDIS_URL: redis.url };
  const none = await runCli(["status"], { env });
  assert.match(none.stdout, /^central {6}gateway: no live owner \(its events wait in its queue\)$/m);
  assert.equal((JSON.parse((await runCli(["status", "--json"], { env })).stdout) as { central: unknown }).central, null);

  await bus.register({ id: "gateway", role: "central", durable: true, instance: "d1", kind: "daemon", pid: 4242 });
  const sessions = await runCli(["sessions"], { env });
  assert.equal(sessions.code, 0, sessions.stderr);
  assert.match(sessions.stdout, /^SESSION\s+ROLE\s+STATE\s+PENDING\s+IN-FLIGHT\s+OWNER\s+HOST\s+SINCE\s+SEEN\s+MEMORY/m);
  assert.match(sessions.stdout, new RegExp(`^gateway\\s+central\\s+live\\s+0\\s+0\\s+daemon pid 4242\\s+${hostname()}\\s+(just now|\\d+s ago)`, "m"));

  const status = await runCli(["status"], { env });
  assert.match(status.stdout, new RegExp(`^central {6}gateway: held by daemon pid 4242 on ${hostname()}, since \\d\\d:\\d\\d$`, "m"));
  const json = JSON.parse((await runCli(["status", "--json"], { env })).stdout) as { central: { instance: string; kind: string; pid: number } };
  assert.deepEqual([json.central.instance, json.central.kind, json.central.pid], ["d1", "daemon", 4242]);
});

test("sessions show a live session's memory: RSS and live heap in the table, every figure in --json", async () => {
  const env = { REDIS_URL: redis.url };
  const MiB = 1024 * 1024;
  const memory = { rss: 160 * MiB, heapUsed: 60 * MiB, external: 4 * MiB, liveHeap: 48 * MiB, at: 1_800_000_000_000 };
  await bus.register({ id: "pid-7", role: "satellite", durable: false, instance: "p7", kind: "pi", pid: 7, memory });
  await bus.register({ id: "pid-8", role: "satellite", durable: false, instance: "p8", kind: "pi", pid: 8, memory: { ...memory, liveHeap: undefined } });
  await bus.register({ id: "pid-9", role: "satellite", durable: false, instance: "p9", kind: "pi", pid: 9 });
  const table = (await runCli(["sessions"], { env })).stdout;
  assert.match(table, /^pid-7\s.*\srss 160M, heap 48M\s/m);
  assert.match(table, /^pid-8\s.*\srss 160M\s+\//m, "no full GC yet: no heap");
  assert.match(table, /^pid-9\s.*\s-\s+\//m, "a session that published none");
  const json = JSON.parse((await runCli(["sessions", "--json"], { env })).stdout) as { sessions: Array<{ id: string; memory?: unknown }> };
  assert.deepEqual(json.sessions.find((s) => s.id === "pid-7")?.memory, memory);
  assert.equal(json.sessions.find((s) => s.id === "pid-9")?.memory, undefined);
});
