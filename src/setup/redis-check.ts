/** Is Redis there, and if not, how does this user start it. */
import { GatewayBus } from "../bus/bus.js";
import { redactUrl } from "../bus/connection.js";
import type { Platform } from "./service/types.js";

export interface RedisCheck {
  ok: boolean;
  url: string;
  detail: string;
  version?: string;
  aof?: boolean;
}

export async function checkRedis(redisUrl: string, timeoutMs = 2_000): Promise<RedisCheck> {
  const url = redactUrl(redisUrl);
  try {
    const bus = await GatewayBus.connect({ redisUrl, connectTimeoutMs: timeoutMs, name: "pi-gateway:check" });
    try {
      const { version, aof } = await bus.serverInfo();
      return { ok: true, url, version, aof, detail: `Redis ${version ?? "?"} at ${url}${aof ? " (AOF on)" : " (AOF off)"}` };
    } finally {
      await bus.close();
    }
  } catch (error) {
    return { ok: false, url, detail: (error as Error).message };
  }
}

export function howToStartRedis(platform: Platform): string[] {
  const docker = "docker run -d --name redis -p 6379:6379 redis:7 redis-server --appendonly yes --appendfsync always";
  return platform === "darwin"
    ? ["brew install redis && brew services start redis", docker]
    : ["sudo apt-get install -y redis-server && sudo systemctl enable --now redis-server", docker];
}
