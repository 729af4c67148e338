/**
 * CLUSTER-FAILOVER (issue #16, docs/cluster.md §7): a real 3 + 3 Redis Cluster (AOF, appendfsync
 * always), CHAOS_FAILOVER_PRODUCERS producer processes pushing through pushWithRetry (same id on every
 * retry) at CHAOS_FAILOVER_RATE events/s in all for CHAOS_FAILOVER_SECONDS into 6 durable satellite
 * sessions, drained meanwhile by 6 consumer processes (EventConsumer; sinks in a separate Redis). The
 * sessions are picked so that two live on the primary holding {agent:gateway} (the registry, `pushed`,
 * the journal) and two on the first primary.
 *
 * At 30 % of the run: kill -9 of the primary holding {agent:gateway} (its replica takes over); at
 * 45 %: restart it (it rejoins as a replica); at 60 %: pause the replica of another primary, which
 * holds two busy sessions (SIGSTOP, its socket buffers filled) and those sessions' consumers, let CHAOS_FAILOVER_LAG_MS (1 s) of load
 * go by, kill -9 that primary and resume the replica, which takes over without that second of writes;
 * at 75 %: restart the killed one. Each promoted primary has no replica until its old primary
 * rejoins: acknowledged writes (WAIT 1, GATEWAY_CLUSTER_WAIT_REPLICAS) wait meanwhile.
 *
 * Asserts: every pushed id delivered exactly once (0 lost, 0 duplicated in the sinks, none extra), no
 * producer gave up, queues and in-flight sets empty. Prints the figures (pushed, delivered, lost, dup,
 * re-deliveries the host check caught, pushes retried, failover times).
 * CHAOS_FAILOVER_WAIT_REPLICAS=0 runs it without WAIT: the pushes acknowledged during the lag are lost.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { Redis } from "ioredis";
import { GatewayBus } from "../../src/bus/bus.js";
import { startRedisCluster, type ClusterNode, type RedisCluster } from "../helpers/redis-cluster.js";
import { startRedis } from "../helpers/redis-server.js";
import { sleep, waitFor } from "../helpers/wait.js";
import { envNumber, expectedIds, figure, killAll, seconds, spawnFixture, type Child, type ConsumerStatsLine, type ProducerReport } from "./harness.js";

const LOAD_SECONDS = envNumber("CHAOS_FAILOVER_SECONDS", 30);
const RATE = envNumber("CHAOS_FAILOVER_RATE", 300);
const PRODUCERS = envNumber("CHAOS_FAILOVER_PRODUCERS", 2);
const WAIT_REPLICAS = process.env.CHAOS_FAILOVER_WAIT_REPLICAS ?? "1";
const LAG_MS = envNumber("CHAOS_FAILOVER_LAG_MS", 1000);
const GLOBAL_SLOT_KEY = "{agent:gateway}:sessions";

const cleanups: Array<() => Promise<unknown> | unknown> = [];
after(async () => {
  await killAll();
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
});

/** Primary index (slot order) serving a slot: the helper's cluster splits 16384 slots in 3 even ranges. */
const primaryOfSlot = (slot: number) => (slot <= 5460 ? 0 : slot <= 10922 ? 1 : 2);

/** Two session ids on each of the given primaries, found by asking the cluster for their slots. */
async function pickSessions(bus: GatewayBus, primaries: number[]): Promise<string[]> {
  const picked: string[] = [];
  for (const primary of primaries) {
    for (let i = 0, found = 0; found < 2; i++) {
      const sid = `f${primary}-${i}`;
      if (primaryOfSlot(Number(await bus.client.cluster("KEYSLOT", bus.keys.events(sid)))) !== primary) continue;
      picked.push(sid);
      found++;
    }
  }
  return picked;
}

/**
 * Pauses `replica` (SIGSTOP) and fills its socket buffers with 32 MiB written to its primary, and pauses
 * the consumers of that primary's sessions (what they drain in time would hide a loss), then waits
 * LAG_MS; resumes them all after the kill.
 */
async function laggingReplica(
  cluster: RedisCluster,
  replica: ClusterNode,
  primary: number,
  sessions: string[],
  consumers: Child[],
  phase: "before" | "after",
): Promise<void> {
  const pids = [replica.pid(), ...consumers.filter((_, i) => sessions[i]!.startsWith(`f${primary}-`)).map((c) => c.proc.pid!)];
  if (phase === "after") return void pids.forEach((pid) => process.kill(pid, "SIGCONT"));
  pids.forEach((pid) => process.kill(pid, "SIGSTOP"));
  const node = (await cluster.primaries())[primary]!;
  const direct = new Redis(node.port, "127.0.0.1");
  const sid = sessions.find((s) => s.startsWith(`f${primary}-`))!;
  await direct.set(`{agent:events:${sid}}:filler`, Buffer.alloc(32 * 1024 * 1024)).finally(() => direct.disconnect());
  await sleep(LAG_MS);
}

test(
  `CLUSTER-FAILOVER: ${RATE} ev/s for ${LOAD_SECONDS}s while two primaries are killed -9 and restarted`,
  { timeout: (LOAD_SECONDS + 240) * 1000 },
  async () => {
    const cluster: RedisCluster = await startRedisCluster({ aof: true });
    cleanups.push(() => cluster.stop());
    const sinkServer = await startRedis();
    cleanups.push(() => sinkServer.stop());
    const sink = new Redis(sinkServer.url);
    cleanups.push(() => sink.disconnect());
    const env = { REDIS_URL: cluster.seeds[0]!, REDIS_CLUSTER_NODES: cluster.seeds.slice(1).join(","), GATEWAY_CLUSTER_WAIT_REPLICAS: WAIT_REPLICAS };
    const bus = await GatewayBus.connect({ redisUrl: env.REDIS_URL, clusterNodes: cluster.seeds.slice(1), persistent: true, connectTimeoutMs: 5_000 });
    cleanups.push(() => bus.close());

    const globalPrimary = primaryOfSlot(Number(await bus.client.cluster("KEYSLOT", GLOBAL_SLOT_KEY)));
    const busyPrimary = globalPrimary === 0 ? 1 : 0;
    const sessions = await pickSessions(bus, [globalPrimary, busyPrimary, 3 - globalPrimary - busyPrimary]);

    const consumers: Child[] = sessions.map((sid) =>
      spawnFixture(`consumer ${sid}`, "chaos-consumer.ts", { ...env, SINK_URL: sinkServer.url, SID: sid, LEASE: "5000", POLL: "500" }),
    );
    await Promise.all(consumers.map((c) => c.waitForLine(/^ready$/, 90_000)));

    const producers: Child[] = Array.from({ length: PRODUCERS }, (_, n) =>
      spawnFixture(`producer ${n}`, "chaos-producer.ts", {
        ...env,
        ID_PREFIX: `p${n}`,
        SESSIONS: sessions.join(","),
        RATE: String(RATE / PRODUCERS),
        SECONDS: String(LOAD_SECONDS),
        CONCURRENCY: "64",
        PUSH_RETRY_MS: "60000",
      }),
    );
    await Promise.all(producers.map((p) => p.waitForLine(/^ready$/, 60_000)));
    const loadStart = Date.now();
    const at = (fraction: number) => sleep(Math.max(0, loadStart + fraction * LOAD_SECONDS * 1000 - Date.now()));

    // ---- the faults
    await at(0.3);
    const first = await cluster.killPrimary(globalPrimary);
    await at(0.45);
    let started = Date.now();
    await cluster.restart(first.killed);
    const firstRejoinMs = Date.now() - started;
    await at(0.6);
    // The busy primary's replica falls behind first: paused, its socket buffers filled (a paused process's
    // kernel still takes in the stream and would replay it), LAG_MS of load, then the kill and its resume.
    // Without WAIT the pushes acknowledged meanwhile die with the primary; with WAIT none was acknowledged.
    const lagged = (replica: ClusterNode, phase: "before" | "after") => laggingReplica(cluster, replica, busyPrimary, sessions, consumers, phase);
    const second = await cluster.killPrimary(busyPrimary, { aroundKill: lagged });
    await at(0.75);
    started = Date.now();
    await cluster.restart(second.killed);
    const secondRejoinMs = Date.now() - started;

    await Promise.all(producers.map((p) => p.waitForLine(/^done /, (LOAD_SECONDS + 120) * 1000)));
    const pushEnd = Date.now();
    const reports = producers.map((p) => p.last<ProducerReport>("done")!);
    const pushed = reports.reduce((sum, r) => sum + r.pushed, 0);
    const expected = new Map<string, Set<string>>(sessions.map((s) => [s, new Set<string>()]));
    for (const report of reports) for (const [sid, ids] of expectedIds(report)) for (const id of ids) expected.get(sid)!.add(id);

    // ---- drain, then compare the sinks with what was pushed
    const delivered = async () => (await Promise.all(sessions.map((s) => sink.scard(`seen:${s}`)))).reduce((a, b) => a + b, 0);
    await waitFor(async () => (await delivered()) >= pushed, `all ${pushed} events delivered`, 60_000, 200).catch(() => undefined);
    const drainMs = Date.now() - pushEnd;
    await sleep(1500); // anything that would arrive twice arrives
    let lost = 0;
    let extra = 0;
    let duplicated = 0;
    for (const sid of sessions) {
      const seen = new Set(await sink.smembers(`seen:${sid}`));
      duplicated += (await sink.llen(`log:${sid}`)) - seen.size;
      for (const id of expected.get(sid)!) if (!seen.has(id)) lost++;
      for (const id of seen) if (!expected.get(sid)!.has(id)) extra++;
    }
    const backlog = await Promise.all(sessions.map(async (s) => (await bus.pending(s)) + (await bus.client.hlen(bus.keys.inflight(s)))));
    await Promise.all(consumers.map((c) => c.kill("SIGTERM")));
    const finals = consumers.map((c) => c.last<ConsumerStatsLine>("stats")!);
    const sum = (pick: (r: ProducerReport) => number) => reports.reduce((total, r) => total + pick(r), 0);

    figure(
      `CLUSTER-FAILOVER: 3+3 cluster (AOF always, WAIT ${WAIT_REPLICAS}), ${pushed} pushed by ${PRODUCERS} producers into ${sessions.length} sessions ` +
        `(target ${RATE} ev/s for ${LOAD_SECONDS}s, ${Math.round(pushed / Math.max(...reports.map((r) => r.seconds)))} achieved), ` +
        `${pushed - lost + extra} delivered, ${lost} lost, ${duplicated} duplicated, ${extra} extra, ` +
        `${finals.reduce((total, s) => total + (s?.caught ?? 0), 0)} re-deliveries caught by the host check, ` +
        `${sum((r) => r.retried)} pushes retried (${sum((r) => r.duplicateReplies)} answered duplicate), ${sum((r) => r.gaveUp)} gave up; ` +
        `failover of the {agent:gateway} primary ${seconds(first.failoverMs)}, its rejoin ${seconds(firstRejoinMs)}, ` +
        `failover of a busy primary (its replica ${LAG_MS} ms behind) ${seconds(second.failoverMs)}, its rejoin ${seconds(secondRejoinMs)}; ` +
        `push p99 ${Math.max(...reports.map((r) => r.p99LatencyMs))} ms max ${Math.max(...reports.map((r) => r.maxLatencyMs))} ms, drained ${seconds(drainMs)} after the last push`,
    );

    assert.equal(lost, 0, "no acknowledged push lost");
    assert.equal(duplicated, 0, "no event delivered twice");
    assert.equal(extra, 0, "nothing delivered that was not pushed");
    assert.equal(
      sum((r) => r.gaveUp),
      0,
      "no producer gave up",
    );
    assert.equal(
      sum((r) => r.misrouted),
      0,
      "every push went to exactly its target",
    );
    assert.deepEqual(
      backlog,
      sessions.map(() => 0),
      "queues and in-flight sets empty",
    );
  },
);
