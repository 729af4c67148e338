/**
 * A load run on the bus for the fault scenarios: a private Redis (AOF, appendfsync always) for the
 * bus, another for the sinks, 5 consumer processes (durable satellites s1..s5) and paced producer
 * processes; `during` injects the faults while the producers push. Returns what was pushed and
 * what reached the sinks, compared id by id.
 */
import { Redis } from "ioredis";
import { GatewayBus } from "../../src/bus/bus.js";
import { startRedis, type RedisServer } from "../helpers/redis-server.js";
import { sleep, waitFor } from "../helpers/wait.js";
import { expectedIds, killAll, spawnFixture, type Child, type ConsumerStatsLine, type ProducerReport } from "./harness.js";

export const SESSIONS = ["s1", "s2", "s3", "s4", "s5"];

export interface BusLoadOptions {
  rate: number;
  seconds: number;
  producers: number;
  /** Consumer lease (ms): how long an unacknowledged claim waits before it is handed out again. */
  leaseMs: number;
  /** Runs while the producers push (t0 = when they were started). */
  during(ctx: { redis: RedisServer; bus: GatewayBus; t0: number; extraIds: Map<string, Set<string>> }): Promise<void>;
}

export interface BusLoadResult {
  pushed: number;
  delivered: number;
  lost: number;
  extra: number;
  duplicated: number;
  misrouted: number;
  deadLetters: number;
  leftInQueues: number;
  /** Re-deliveries that the host's alreadyDelivered check caught. */
  caught: number;
  reports: ProducerReport[];
  producerExitCodes: Array<number | null>;
  consumersAlive: boolean[];
  consumerFinals: ConsumerStatsLine[];
  drainMs: number;
  pushSeconds: number;
}

export async function runBusLoad(options: BusLoadOptions): Promise<BusLoadResult> {
  const redis = await startRedis({ aof: true });
  const sinkServer = await startRedis();
  const sink = new Redis(sinkServer.url);
  const bus = await GatewayBus.connect({ redisUrl: redis.url, persistent: true });
  try {
    const consumers: Child[] = SESSIONS.map((sid) =>
      spawnFixture(`consumer ${sid}`, "chaos-consumer.ts", { REDIS_URL: redis.url, SINK_URL: sinkServer.url, SID: sid, LEASE: String(options.leaseMs) }),
    );
    await Promise.all(consumers.map((c) => c.waitForLine(/^ready$/, 60_000)));
    const producers: Child[] = Array.from({ length: options.producers }, (_, n) =>
      spawnFixture(`producer ${n}`, "chaos-producer.ts", {
        REDIS_URL: redis.url,
        ID_PREFIX: `f${n}`,
        SESSIONS: SESSIONS.join(","),
        RATE: String(options.rate / options.producers),
        SECONDS: String(options.seconds),
        PUSH_RETRY_MS: "10000",
      }),
    );
    const t0 = Date.now();
    const extraIds = new Map<string, Set<string>>(SESSIONS.map((s) => [s, new Set<string>()]));
    await options.during({ redis, bus, t0, extraIds });
    const exits = await Promise.all(producers.map((p) => p.exited));
    const pushEnd = Date.now();
    const reports = producers.map((p) => p.last<ProducerReport>("done"));
    if (reports.some((r) => !r)) {
      throw new Error(`a producer did not finish:\n${producers.map((p) => `${p.name}: ${p.output().slice(-2000)}`).join("\n")}`);
    }
    const done = reports as ProducerReport[];
    const expected = new Map<string, Set<string>>(SESSIONS.map((s) => [s, new Set(extraIds.get(s))]));
    for (const report of done) for (const [sid, ids] of expectedIds(report)) for (const id of ids) expected.get(sid)!.add(id);
    const pushed = [...expected.values()].reduce((sum, set) => sum + set.size, 0);

    const delivered = async () => (await Promise.all(SESSIONS.map((s) => sink.scard(`seen:${s}`)))).reduce((a, b) => a + b, 0);
    // Claims whose reply was lost in a crash wait for their lease: allow a few leases.
    await waitFor(async () => (await delivered()) >= pushed, `all ${pushed} events delivered`, 90_000 + 4 * options.leaseMs, 100).catch(() => undefined);
    const drainMs = Date.now() - pushEnd;
    await sleep(Math.min(options.leaseMs + 1500, 8000)); // anything that would come twice comes now

    let lost = 0;
    let extra = 0;
    let duplicated = 0;
    let misrouted = 0;
    let total = 0;
    for (const sid of SESSIONS) {
      const seen = new Set(await sink.smembers(`seen:${sid}`));
      total += seen.size;
      duplicated += (await sink.llen(`log:${sid}`)) - seen.size;
      for (const id of expected.get(sid)!) if (!seen.has(id)) lost++;
      for (const id of seen) if (!expected.get(sid)!.has(id)) extra++;
      misrouted += Number((await sink.get(`misrouted:${sid}`)) ?? 0);
    }
    const deadLetters = await bus.client.llen(bus.keys.deadLetters);
    let leftInQueues = 0;
    for (const sid of SESSIONS) leftInQueues += (await bus.pending(sid)) + (await bus.client.hlen(bus.keys.inflight(sid)));
    const consumersAlive = consumers.map((c) => c.alive());
    await Promise.all(consumers.map((c) => c.kill("SIGTERM")));
    const consumerFinals = consumers.map((c) => c.last<ConsumerStatsLine>("stats")!);
    return {
      pushed,
      delivered: total,
      lost,
      extra,
      duplicated,
      misrouted,
      deadLetters,
      leftInQueues,
      caught: consumerFinals.reduce((sum, s) => sum + (s?.caught ?? 0), 0),
      reports: done,
      producerExitCodes: exits.map((e) => e.code),
      consumersAlive,
      consumerFinals,
      drainMs,
      pushSeconds: (pushEnd - t0) / 1000,
    };
  } finally {
    await killAll();
    sink.disconnect();
    bus.client.disconnect();
    await redis.stop();
    await sinkServer.stop();
  }
}
