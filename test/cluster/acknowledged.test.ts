/**
 * docs/cluster.md §5, "acknowledged means replicated", on a real 3 + 3 cluster: an acknowledging
 * write (push, claim, ack) rides in one pipeline with WAIT 1. The replica of the `main` queue's
 * primary is paused (SIGSTOP), so it confirms nothing:
 *  - a claim is refused as NOT_ACKNOWLEDGED and its events are handed back at once;
 *  - a consumer's ack is refused while the replica is paused, and retried with the same ids until it is
 *    confirmed (no failed drain, nothing left in flight);
 *  - a push is refused as NOT_ACKNOWLEDGED (the paused replica's socket buffers filled first, or it
 *    would still read the push on resuming); then the primary is killed -9 and the paused replica,
 *    resumed, takes over without the push: the producer, told "not acknowledged", pushes again with
 *    the same id (refused again until the restarted primary rejoins as the new primary's replica)
 *    and the event is there exactly once. Without WAIT the primary answers "pushed",
 *    the producer moves on, and the failover loses the event.
 */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import { GatewayBus } from "../../src/bus/bus.js";
import { EventConsumer } from "../../src/bus/consumer.js";
import { NotAcknowledgedError } from "../../src/bus/errors.js";
import { createEvent } from "../../src/protocol/event.js";
import { runCli } from "../helpers/cli.js";
import { startRedisCluster, type ClusterNode, type RedisCluster } from "../helpers/redis-cluster.js";
import { waitFor } from "../helpers/wait.js";

const QUEUE = "main";
let cluster: RedisCluster;
let bus: GatewayBus;
let slot: number;

before(async () => {
  cluster = await startRedisCluster();
  // WAIT's timeout is the connect timeout: short, so a refused write is quick.
  bus = await GatewayBus.connect({ redisUrl: cluster.seeds[0]!, clusterNodes: cluster.seeds.slice(1), connectTimeoutMs: 500 });
  slot = Number(await bus.client.cluster("KEYSLOT", bus.keys.events(QUEUE)));
});
after(async () => {
  await bus?.close();
  await cluster?.stop();
});

/** The primary serving the `main` queue's slot now, and its live replica (none right after a failover). */
async function mainPrimary(): Promise<{ primary: ClusterNode; replica: ClusterNode | undefined }> {
  const view = await cluster.view();
  const serves = (range: string) => {
    const [from, to = from] = range.split("-").map(Number);
    return slot >= from! && slot <= to!;
  };
  const primary = view.find((v) => v.flags.includes("master") && !v.flags.includes("fail") && v.slots.some(serves))!;
  const replica = view.find((v) => v.primaryOf === primary.id && !v.flags.includes("fail"));
  const node = (port: number) => cluster.nodes.find((n) => n.port === port)!;
  return { primary: node(primary.port), replica: replica && node(replica.port) };
}

test("a claim no replica confirmed is refused and its events go back to the queue at once", async () => {
  await bus.pushWithRetry(createEvent("test.ack", "test", {}, { id: "claim-1" }), {}, 10_000);
  const replica = (await mainPrimary()).replica!;
  process.kill(replica.pid(), "SIGSTOP");
  try {
    await assert.rejects(bus.claim(QUEUE), (error: unknown) => error instanceof NotAcknowledgedError && error.code === "NOT_ACKNOWLEDGED");
    assert.equal(await bus.pending(QUEUE), 1, "handed back, not left in flight until its lease expires");
  } finally {
    process.kill(replica.pid(), "SIGCONT");
  }
  const claimed = await bus.claim(QUEUE);
  assert.deepEqual(
    claimed.events.map((e) => e.id),
    ["claim-1"],
  );
  assert.equal(await bus.ack(QUEUE, ["claim-1"]), 1);
});

test("a consumer whose ack no replica confirmed acks again (same ids) until one does, and the batch is done once", async () => {
  const consumerBus = await GatewayBus.connect({
    redisUrl: cluster.seeds[0]!,
    clusterNodes: cluster.seeds.slice(1),
    connectTimeoutMs: 500,
    persistent: true,
  });
  const replica = (await mainPrimary()).replica!;
  const delivered: string[] = [];
  const failures: Error[] = [];
  const consumer = new EventConsumer({
    bus: consumerBus,
    sessionId: QUEUE,
    role: "satellite",
    durable: true,
    kind: "test",
    // The replica stops confirming between the claim and the ack, for 1.5 s (three WAITs of 500 ms).
    deliver: async ({ events }) => {
      delivered.push(...events.map((e) => e.id));
      process.kill(replica.pid(), "SIGSTOP");
      setTimeout(() => process.kill(replica.pid(), "SIGCONT"), 1_500).unref();
    },
  });
  consumer.on("drainFailed", (error) => failures.push(error));
  try {
    await consumer.start();
    await bus.pushWithRetry(createEvent("test.ack", "test", {}, { id: "ack-1" }), {}, 10_000);
    await waitFor(() => consumer.stats.delivered === 1, "the batch acked", 15_000, 50);
    assert.deepEqual(delivered, ["ack-1"]);
    assert.deepEqual(
      failures.map((e) => e.message),
      [],
    );
    assert.equal(await bus.client.hlen(bus.keys.inflight(QUEUE)), 0, "nothing left in flight for its lease to hand out again");
  } finally {
    process.kill(replica.pid(), "SIGCONT");
    await consumer.stop();
    await consumerBus.close();
  }
});

test("pi-gateway push says at once that it waits for a replica, and on giving up that the same id delivers once", async () => {
  const replica = (await mainPrimary()).replica!;
  const env = { REDIS_URL: cluster.seeds[0]!, HOME: mkdtempSync(join(tmpdir(), "pigw-ack-cli-")), GATEWAY_CONNECT_TIMEOUT: "500ms" };
  process.kill(replica.pid(), "SIGSTOP");
  let result: Awaited<ReturnType<typeof runCli>>;
  try {
    result = await runCli(["push", "test.ack", "--id", "cli-1", "--retry", "2s"], { env });
  } finally {
    process.kill(replica.pid(), "SIGCONT");
  }
  assert.equal(result.code, 1, result.stderr);
  const lines = result.stderr.trim().split("\n");
  assert.equal(lines.length, 2, result.stderr);
  assert.match(lines[0]!, /^pi-gateway: no replica of the Redis Cluster primary confirmed "push-enqueue" within 500ms; retrying for 2s/);
  assert.match(lines[1]!, /not acknowledged.*retried for 2s; event cli-1 may be queued on the primary only, and a push with the same id delivers it once/);
  // It was: the primary kept it. The same id again, once the replica confirms, is not delivered twice.
  await waitFor(
    async () => (await runCli(["push", "test.ack", "--id", "cli-1", "--retry", "10s"], { env })).code === 0,
    "the same push, acknowledged",
    20_000,
    200,
  );
  const claimed = await bus.claim(QUEUE);
  assert.deepEqual(
    claimed.events.map((e) => e.id),
    ["cli-1"],
  );
  assert.equal(await bus.ack(QUEUE, ["cli-1"]), 1);
});

test("a push no replica confirmed is refused; after the failover its retry (same id) lands exactly once", async () => {
  const { primary, replica = assert.fail("no replica") } = await mainPrimary();
  const event = createEvent("test.ack", "test", { n: 1 }, { id: "push-1" });
  process.kill(replica.pid(), "SIGSTOP");
  // A paused replica's kernel still takes in what the primary streams (its socket buffers), and would
  // replay it on resuming: fill them first, so the push waits in the primary's own output buffer.
  const direct = new Redis(primary.port, "127.0.0.1");
  await direct.set(`{${bus.keys.events(QUEUE)}}:filler`, Buffer.alloc(32 * 1024 * 1024));
  direct.disconnect();
  let refused: unknown;
  try {
    await bus.push(event);
  } catch (error) {
    refused = error;
  }
  // The primary dies with the push; the replica, resumed, never had it and takes over.
  process.kill(primary.pid(), "SIGKILL");
  await waitFor(() => !primary.alive(), "the primary gone", 5_000, 20);
  process.kill(replica.pid(), "SIGCONT");
  await waitFor(async () => (await mainPrimary().catch(() => undefined))?.primary.port === replica.port, "the replica to take over", 20_000, 100);
  // A producer told "not acknowledged" tries again with the same id (one told "pushed" moves on):
  // refused again until the new primary has a replica, the killed one restarted and rejoined.
  const retried = refused ? bus.pushWithRetry(event, {}, 20_000) : undefined;
  await cluster.restart(primary);
  await retried;
  const claimed = await bus.claim(QUEUE);
  assert.deepEqual(
    claimed.events.map((e) => e.id),
    ["push-1"],
    "the acknowledged push survived the failover",
  );
  assert.ok(refused instanceof NotAcknowledgedError, `the producer was told: ${String(refused)}`);
  assert.match(refused.message, /not acknowledged: 0 of 1 replica confirmed it within 500ms/);
});
