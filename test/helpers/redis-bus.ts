/**
 * The usual suite fixture: a private redis-server and a connected bus, started before the suite and
 * stopped after it; optionally flushed before every test. `ready` hands both to the suite's variables.
 */
import { after, before, beforeEach } from "node:test";
import { GatewayBus } from "../../src/bus/bus.js";
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
