/**
 * The cost of "acknowledged means replicated" (docs/cluster.md §5) on a real 3 + 3 Redis Cluster
 * (test/helpers/redis-cluster.ts, loopback, no AOF): one push at a time (route, enqueue, routed; two
 * of them carry WAIT) and one claim + ack round trip at a time (both carry WAIT), with
 * GATEWAY_CLUSTER_WAIT_REPLICAS 1 and 0, plus pushes with 64 in flight from one client (WAIT blocks
 * the node connection it rides on, so concurrent acknowledged writes to one primary queue behind it).
 * Run: node --import tsx bench/cluster-wait.ts [count, default 500]
 */
import { GatewayBus } from "../src/bus/bus.js";
import { createEvent } from "../src/protocol/event.js";
import { startRedisCluster } from "../test/helpers/redis-cluster.js";
import { fmt, nowMs, summarize } from "./stats.js";

const COUNT = Number(process.argv[2] ?? "500");
const cluster = await startRedisCluster();
try {
  for (const replicas of [0, 1, 0, 1]) {
    const bus = await GatewayBus.connect({ redisUrl: cluster.seeds[0]!, clusterWaitReplicas: replicas });
    const tag = `w${replicas}-${nowMs()}`;
    const push: number[] = [];
    for (let i = 0; i < COUNT; i++) {
      const started = nowMs();
      await bus.push(createEvent("bench.wait", "bench", {}, { id: `${tag}-${i}` }));
      push.push(nowMs() - started);
    }
    const claimAck: number[] = [];
    for (let i = 0; i < COUNT; i++) {
      const started = nowMs();
      const { events } = await bus.claim("main", 1);
      await bus.ack(
        "main",
        events.map((e) => e.id),
      );
      claimAck.push(nowMs() - started);
    }
    const started = nowMs();
    for (let i = 0; i < COUNT; i += 64) {
      await Promise.all(
        Array.from({ length: Math.min(64, COUNT - i) }, (_, j) => bus.push(createEvent("bench.wait", "bench", {}, { id: `${tag}-c${i + j}` }))),
      );
    }
    const concurrentRate = COUNT / ((nowMs() - started) / 1000);
    await bus.claim("main", COUNT).then(({ events }) =>
      bus.ack(
        "main",
        events.map((e) => e.id),
      ),
    );
    const p = summarize(push);
    const c = summarize(claimAck);
    console.log(
      `WAIT ${replicas}: push p50 ${fmt(p.p50)} ms p99 ${fmt(p.p99)} ms | claim+ack p50 ${fmt(c.p50)} ms p99 ${fmt(c.p99)} ms | 64 in flight: ${Math.round(concurrentRate)} pushes/s`,
    );
    await bus.close();
  }
} finally {
  await cluster.stop();
}
