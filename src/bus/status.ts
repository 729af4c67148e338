/**
 * What the bus looks like as a whole: the Redis server's facts, backlog, dead letters, journal
 * length, the last heartbeat and the settings shared through Redis (the config hash).
 */
import { Cluster } from "ioredis";
import { allOf } from "./boxes.js";
import { deadLetterCount } from "./dead-letters.js";
import { journalStreams } from "./journal.js";
import { sessions } from "./sessions.js";
import type { BusContext, BusStatus, ServerInfo } from "./types.js";

/** Pending events of one queue. */
export function pending(ctx: BusContext, sid: string): Promise<number> {
  return ctx.client.llen(ctx.keys.events(sid));
}

/** The Redis version and whether it persists with an append-only file. */
export async function serverInfo(ctx: BusContext): Promise<ServerInfo> {
  const [server, persistence] = await Promise.all([ctx.client.info("server"), ctx.client.info("persistence")]);
  const primaries = ctx.client instanceof Cluster ? ctx.client.nodes("master").length : undefined;
  return { version: /redis_version:(\S+)/.exec(server)?.[1], aof: /aof_enabled:1/.test(persistence), ...(primaries ? { primaries } : {}) };
}

export async function lastHeartbeat(ctx: BusContext): Promise<number | null> {
  const value = await ctx.client.get(ctx.keys.lastHeartbeat);
  return value ? Number(value) : null;
}

export async function recordHeartbeat(ctx: BusContext, at: number): Promise<void> {
  await ctx.client.set(ctx.keys.lastHeartbeat, at);
}

/** The settings hash shared through Redis (e.g. the watchdog threshold), field → value; empty when unset. */
export function sharedConfig(ctx: BusContext): Promise<Record<string, string>> {
  return ctx.client.hgetall(ctx.keys.config);
}

/** Running totals (duplicates, pushed), summed over the counters of a cluster's slots (boxes.ts). */
async function counters(ctx: BusContext): Promise<[number, number]> {
  const keys = await allOf(ctx, ctx.keys.counters, ctx.keys.countersOf);
  const rows = await Promise.all(keys.map((key) => ctx.client.hmget(key, "duplicates", "pushed")));
  return rows.reduce<[number, number]>(([d, p], [dup, pushed]) => [d + Number(dup ?? 0), p + Number(pushed ?? 0)], [0, 0]);
}

async function journalLengthOf(ctx: BusContext): Promise<number> {
  const lengths = await Promise.all((await journalStreams(ctx)).map((key) => ctx.client.xlen(key)));
  return lengths.reduce((sum, n) => sum + n, 0);
}

export async function status(ctx: BusContext): Promise<BusStatus> {
  const [server, appendfsync, registered, deadLetters, [duplicates, pushed], journalLength, heartbeat] = await Promise.all([
    serverInfo(ctx),
    // CONFIG is often disabled on managed Redis; status still works without it.
    ctx.client.config("GET", "appendfsync").catch(() => ["appendfsync", "unknown"]),
    sessions(ctx),
    deadLetterCount(ctx),
    counters(ctx),
    journalLengthOf(ctx),
    lastHeartbeat(ctx),
  ]);
  // sessions() already counted each session's queue; only the legacy queue may be unregistered.
  const backlog: Record<string, number> = Object.fromEntries(registered.map((s) => [s.id, s.pending]));
  backlog[ctx.options.legacySession] ??= await pending(ctx, ctx.options.legacySession);
  return {
    redis: {
      url: ctx.options.redisUrl,
      version: server.version ?? "unknown",
      aof: server.aof,
      ...(server.primaries ? { primaries: server.primaries } : {}),
      appendfsync: String((appendfsync as string[])[1] ?? "unknown"),
    },
    sessions: registered,
    backlog,
    deadLetters,
    duplicates,
    pushed,
    journalLength,
    lastHeartbeat: heartbeat,
  };
}
