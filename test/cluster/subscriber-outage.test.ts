/**
 * A subscribed client on a Redis Cluster whose every node is gone waits between its attempts to
 * find a node (ioredis alone retries at once, forever: a core at 100 % and memory growing;
 * src/bus/connection.ts paceSubscriberReselection).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { GatewayBus } from "../../src/bus/bus.js";
import { startRedisCluster } from "../helpers/redis-cluster.js";
import { sleep } from "../helpers/wait.js";

test("a cluster subscriber with every node down does not spin: under 1 s of CPU in 5 s", async () => {
  const cluster = await startRedisCluster();
  const bus = await GatewayBus.connect({ redisUrl: cluster.seeds[0]!, persistent: true });
  const subscriber = bus.duplicateClient("test:outage-sub");
  try {
    await subscriber.subscribe(bus.keys.notify("outage"));
    await cluster.stop();
    await sleep(1_000); // the first attempts, at once as ioredis makes them
    const before = process.cpuUsage();
    await sleep(5_000);
    const used = process.cpuUsage(before);
    const cpuMs = (used.user + used.system) / 1000;
    assert.ok(cpuMs < 1_000, `the subscriber spun: ${Math.round(cpuMs)} ms of CPU in 5 s with every node down`);
  } finally {
    subscriber.disconnect();
    bus.disconnect();
    await cluster.stop();
  }
});
