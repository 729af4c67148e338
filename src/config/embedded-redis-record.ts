/**
 * Where the daemon's embedded redis-server leaves its address, so that every other `pi-gateway`
 * command (and the extension) finds it without configuration. The daemon writes the record when
 * its redis-server answers and removes it on a clean stop; after a crash the record stays but
 * names a dead pid, and is ignored.
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { isAbsolute, join } from "node:path";
import { z } from "zod";
import { processAlive } from "../util/process.js";

type Env = Record<string, string | undefined>;

export const EmbeddedRedisRecordSchema = z.object({
  url: z.string().regex(/^redis:\/\/127\.0\.0\.1:\d+$/),
  /** The redis-server's pid. */
  pid: z.number().int().positive(),
  /** The daemon that started it (and stops it). */
  daemonPid: z.number().int().positive(),
  dataDir: z.string().min(1),
  startedAt: z.number(),
});
export type EmbeddedRedisRecord = z.infer<typeof EmbeddedRedisRecordSchema>;

/** The gateway's state directory: $XDG_STATE_HOME/pi-gateway, else ~/.local/state/pi-gateway. */
export function gatewayStateDir(env: Env = process.env): string {
  // The XDG spec says a relative value is invalid and must be ignored.
  const xdg = env.XDG_STATE_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, "pi-gateway");
  return join(env.HOME || homedir(), ".local", "state", "pi-gateway");
}

/** The embedded redis-server's data directory (AOF, pidfile, log, and the record). */
export function embeddedRedisDir(env: Env = process.env): string {
  return join(gatewayStateDir(env), "redis");
}

export function embeddedRedisRecordFile(env: Env = process.env): string {
  return join(embeddedRedisDir(env), "embedded.json");
}

/** The record as written, whether or not its redis-server still runs; undefined if none or unreadable. */
export function readEmbeddedRedisRecord(env: Env = process.env): EmbeddedRedisRecord | undefined {
  let text: string;
  try {
    text = readFileSync(embeddedRedisRecordFile(env), "utf8");
  } catch {
    return undefined; // no embedded Redis was ever started here
  }
  try {
    const parsed = EmbeddedRedisRecordSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined; // a torn write from a crash: as good as no record
  }
}

/** The embedded redis-server's record if it is running now. */
export function runningEmbeddedRedis(env: Env = process.env): EmbeddedRedisRecord | undefined {
  const record = readEmbeddedRedisRecord(env);
  return record && processAlive(record.pid) ? record : undefined;
}
