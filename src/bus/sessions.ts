/**
 * Sessions on the bus: registration and its lease (register-5.lua), who holds an id, clean
 * shutdown and reaping of dead sessions (retire-3.lua), and the session table `status` shows.
 */
import { hostname } from "node:os";
import { z } from "zod";
import { presenceIntervalOf } from "../config/bus-options.js";
import type { BusContext, LeaseHolder, ProcessMemory, RegisterResult, SessionInfo, SessionRegistration, SessionRole } from "./types.js";

/**
 * Registers a session or renews its lease and presence (see register-5.lua). Refused ("held")
 * while another instance holds a live lease on the id, unless `takeover` says to take it: "force"
 * from anyone, or an instance token to take it only from that holder (known to be dead).
 * `renew`: the owner's presence tick, metadata unchanged (a live owner's renewal writes only its
 * deadline).
 */
export async function register(
  ctx: BusContext,
  session: SessionRegistration,
  options: { takeover?: "force" | string; renew?: boolean } = {},
): Promise<RegisterResult> {
  const k = ctx.keys;
  const fields: Array<string | number> = [
    "role",
    session.role,
    "durable",
    session.durable ? "1" : "0",
    "pid",
    session.pid ?? process.pid,
    "host",
    hostname(),
    "cwd",
    session.cwd ?? process.cwd(),
    "kind",
    session.kind ?? "pi",
    ...(session.queues ? ["drains", session.queues.join(",")] : []),
    ...(session.memory ? ["memory", JSON.stringify(session.memory)] : []),
  ];
  const takeover = options.takeover === "force" ? "*" : (options.takeover ?? "");
  const args = [session.id, ctx.options.presenceTtlMs, takeover, session.instance, options.renew ? "renew" : "", "", ...fields];
  const reply = k.cluster
    ? await registerInSlots(ctx, session, args)
    : ((await ctx.scripts.register([k.sessions, k.presence, k.sessionInfo(session.id), k.centrals, k.routes], args)) as string[]);
  if (reply[0] === "held") return { status: "held", holder: toLeaseHolder(session.id, reply.slice(1)) };
  const [, instance, pid, host, deadline, now, reapDue, recoverDue] = reply;
  return {
    status: "owner",
    previous: { instance: instance ?? "", pid: pid ? Number(pid) : undefined, host: host ?? "", presenceDeadline: deadline ? Number(deadline) : 0 },
    at: Number(now),
    reapDue: reapDue === "1",
    recoverDue: recoverDue === "1",
  };
}

/** The global keys' common prefix (`<prefix>:gateway`, tagged on a cluster): scripts build drainers keys from it. */
const globalPrefix = (ctx: BusContext) => ctx.keys.sessions.slice(0, -":sessions".length);

/**
 * Registration on a Redis Cluster: register-5.lua's steps one by one, each in its slot (docs/cluster.md
 * §3). The session step decides the lease from the record's own deadline; then, only if it says
 * owner, the global step (registry, presence, indexes) and, in each drained queue's slot, the owner
 * mirror the claim checks. Both are written on every tick, so a step lost to a crash is redone by the
 * next one; a holder taken over is told 'held' at its next tick and stops writing its mirror.
 * Answers as register-5.lua.
 */
async function registerInSlots(ctx: BusContext, session: SessionRegistration, args: Array<string | number>): Promise<string[]> {
  const k = ctx.keys;
  args[5] = "record";
  const r = (await ctx.scripts["register-session"]([k.sessionInfo(session.id)], args)) as string[];
  if (r[0] === "held") return r;
  const [, instance, pid, host, deadline, now, until, renewed, prevRole, hadDrains, prevDrains] = r.map(String);
  const global = [session.id, until!, renewed!, globalPrefix(ctx), prevRole!, hadDrains!, prevDrains!, ...args.slice(6)];
  const queues = session.queues ?? [session.id];
  const [reapDue, ...lapsed] = await Promise.all([
    ctx.scripts["register-global"]([k.sessions, k.presence, k.centrals, k.routes], global),
    ...queues.map((queue) => ctx.scripts["lapsed-leases"]([k.leases(queue)], [now!])),
    ...queues.map((queue) => ctx.client.hset(k.owner(queue), session.id, session.instance)),
  ]);
  const recoverDue = lapsed.slice(0, queues.length).some((n) => Number(n) === 1);
  return ["owner", instance!, pid!, host!, deadline!, now!, String(reapDue), recoverDue ? "1" : "0"];
}

/** The live holder of a session id's lease, or undefined when nobody holds it (free or expired). */
export async function leaseHolder(ctx: BusContext, sid: string): Promise<LeaseHolder | undefined> {
  const k = ctx.keys;
  const [fields, presence, now] = await Promise.all([
    ctx.client.hmget(k.sessionInfo(sid), "instance", "pid", "host", "kind", "started", "role", "deadline"),
    ctx.client.zscore(k.presence, sid),
    serverTime(ctx),
  ]);
  const [instance, pid, host, kind, started, role, recorded] = fields;
  // The lease decision's deadline: on a cluster the record's own (register-session-1.lua), else the presence score.
  const deadline = k.cluster ? recorded : presence;
  if (!instance || !deadline || Number(deadline) < now) return undefined;
  return toLeaseHolder(sid, [instance, pid ?? "", host ?? "", kind ?? "", started ?? "", deadline, role ?? ""]);
}

const STOPPED = (sid: string) => `session ${sid} ended before delivery: it shut down and, having no stable id, will not come back for it`;
const DIED = (sid: string) => `session ${sid} died before delivery: its presence lapsed and, having no stable id, it will not come back for it`;

/** A session shuts down cleanly (see retire-3.lua for what happens to its queue). */
export async function unregister(ctx: BusContext, sid: string, instance: string): Promise<void> {
  const { keys: k, options: o } = ctx;
  if (k.cluster) {
    await retireInSlots(ctx, sid, "session", instance, STOPPED(sid));
    return;
  }
  await ctx.scripts.retire([k.sessions, k.presence, k.deadLetters], [k.prefix, o.deadLetterCap, "session", sid, instance, o.journalCap]);
}

/**
 * Reaps sessions whose presence expired more than one presence interval ago (the grace lets live
 * sessions re-register after Redis was away); returns their ids with how many events were dead-lettered.
 * On a cluster (docs/cluster.md §3): the candidates from the presence zset, then per candidate the
 * session step in its slot (which checks the record's own deadline again: a session that renewed
 * meanwhile stays) and the global cleanup only after it acted. A reaper dying between the steps
 * leaves a candidate in the presence zset: the next pass finishes it (each step is idempotent).
 */
export async function reapExpired(ctx: BusContext): Promise<Array<{ id: string; deadLettered: number }>> {
  const { keys: k, options: o } = ctx;
  const reaped: Array<{ id: string; deadLettered: number }> = [];
  if (k.cluster) {
    const before = (await serverTime(ctx)) - presenceIntervalOf(o);
    for (const sid of await ctx.client.zrangebyscore(k.presence, "-inf", `(${before}`)) {
      const r = await retireInSlots(ctx, sid, "expired", "", DIED(sid));
      if (r && r.status !== "gone") reaped.push({ id: sid, deadLettered: r.moved });
    }
    return reaped;
  }
  const args = [k.prefix, o.deadLetterCap, "expired", "", "", o.journalCap, presenceIntervalOf(o)];
  const reply = (await ctx.scripts.retire([k.sessions, k.presence, k.deadLetters], args)) as Array<string | number>;
  for (let i = 0; i < reply.length; i += 2) reaped.push({ id: String(reply[i]), deadLettered: Number(reply[i + 1]) });
  return reaped;
}

/** retire-3.lua's steps for one session on a cluster, each in its slot; undefined when the session step skipped it. */
async function retireInSlots(
  ctx: BusContext,
  sid: string,
  mode: "session" | "expired",
  instance: string,
  reason: string,
): Promise<{ status: string; moved: number } | undefined> {
  const { keys: k, options: o } = ctx;
  const own = [
    k.sessionInfo(sid),
    k.events(sid),
    k.inflight(sid),
    k.leases(sid),
    k.delivered(sid),
    k.deadLettersOf(sid),
    k.journalOf(sid),
    k.owner(sid),
    k.enqueued(sid),
  ];
  const args = [sid, mode, instance, reason, o.deadLetterCap, o.journalCap, "record", presenceIntervalOf(o)];
  const [status, moved, hadDrains, drains, left] = ((await ctx.scripts["retire-session"](own, args)) as Array<string | number>).map(String);
  if (status === "skip") return undefined;
  await ctx.scripts["retire-global"](
    [k.sessions, k.presence, k.centrals, k.routes, k.letterboxes],
    [sid, status!, hadDrains!, drains!, globalPrefix(ctx), left!],
  );
  // The owner mirrors in the other drained queues' slots (its own went with its keys).
  if (status === "retired" && hadDrains === "1") {
    await Promise.all(
      drains!
        .split(",")
        .filter((q) => q && q !== sid)
        .map((queue) => ctx.client.hdel(k.owner(queue), sid)),
    );
  }
  return { status: status!, moved: Number(moved) };
}

/** Every registered session with its record, liveness, pending and in-flight counts, by id. */
export async function sessions(ctx: BusContext): Promise<SessionInfo[]> {
  const k = ctx.keys;
  const ids = (await ctx.client.smembers(k.sessions)).sort();
  if (!ids.length) return [];
  const now = await serverTime(ctx);
  const commands = ids.flatMap((id) => [
    ["hgetall", k.sessionInfo(id)],
    ["zscore", k.presence, id],
    ["llen", k.events(id)],
    ["hlen", k.inflight(id)],
  ]);
  // A pipeline must stay within one slot on a cluster: there, one per command (the client batches per node).
  const results = k.cluster
    ? await Promise.all(commands.map(async (command) => ((await ctx.client.pipeline([command]).exec()) ?? [])[0]))
    : ((await ctx.client.pipeline(commands).exec()) ?? []);
  return ids.map((id, i) => {
    const [info, deadline, pending, inFlight] = results.slice(i * 4, i * 4 + 4).map((r) => r?.[1]);
    return toSessionInfo(id, (info ?? {}) as Record<string, string>, Number(deadline ?? 0), now, Number(pending ?? 0), Number(inFlight ?? 0));
  });
}

function toSessionInfo(id: string, info: Record<string, string>, deadline: number, now: number, pending: number, inFlight: number): SessionInfo {
  const known = Object.keys(info).length > 0;
  const role: SessionRole = info.role === "central" || (!known && id === "gateway") ? "central" : "satellite";
  return {
    id,
    role,
    durable: info.durable === "1" || !known,
    live: deadline >= now,
    presenceDeadline: deadline,
    pid: info.pid ? Number(info.pid) : undefined,
    host: info.host,
    cwd: info.cwd,
    kind: info.kind,
    started: info.started ? Number(info.started) : undefined,
    lastSeen: info.seen ? Number(info.seen) : undefined,
    watchdog: info.watchdog,
    watchdogThresholdMs: info.watchdogThreshold ? Number(info.watchdogThreshold) : undefined,
    memory: parseMemory(info.memory),
    pending,
    inFlight,
  };
}

/** Publishes the central session's watchdog state in its record, for `status` and `doctor`. */
export async function recordWatchdog(ctx: BusContext, sessionId: string, state: string, thresholdMs: number): Promise<void> {
  await ctx.client.hset(ctx.keys.sessionInfo(sessionId), "watchdog", state, "watchdogThreshold", thresholdMs);
}

/** Redis server time in ms: presence deadlines are computed by the server, so compare with it. */
export async function serverTime(ctx: BusContext): Promise<number> {
  const [seconds, micros] = await ctx.client.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

function toLeaseHolder(sessionId: string, [instance, pid, host, kind, since, deadline, role]: string[]): LeaseHolder {
  return {
    sessionId,
    instance: instance ?? "",
    kind: kind || "pi",
    pid: pid ? Number(pid) : undefined,
    host: host ?? "",
    since: since ? Number(since) : 0,
    expires: deadline ? Number(deadline) : 0,
    role: role ?? "",
  };
}

const bytes = z.number().int().nonnegative();
const MemorySchema = z.object({ rss: bytes, heapUsed: bytes, external: bytes, liveHeap: bytes.optional(), at: bytes });

/** The `memory` a session published (JSON), or undefined when absent or not what a session writes. */
function parseMemory(raw: string | undefined): ProcessMemory | undefined {
  if (!raw) return undefined;
  try {
    const parsed = MemorySchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
