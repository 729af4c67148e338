/**
 * GatewayBus: every Redis operation of the gateway, on one command client. The extension, the
 * daemon and the CLI all go through this class; the atomic parts are the Lua scripts in ./commands.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { hostname } from "node:os";
import type { Redis } from "ioredis";
import { resolveBusOptions, type BusOptions } from "../config/bus-options.js";
import { formatDuration } from "../config/duration.js";
import { createEvent, parseRawEvent, type GatewayEvent } from "../protocol/event.js";
import { keySpace, type KeySpace } from "../protocol/keys.js";
import { connectClient, createClient, dropClient, redisUnreachable } from "./connection.js";
import { capText } from "../util/text.js";
import { GatewayError, RedisUnreachableError } from "./errors.js";
import { installScripts, type ScriptRunner } from "./scripts.js";
import type { BusStatus, JournalEntry, SessionInfo, SessionRole } from "./status-types.js";

export type { BusStatus, JournalEntry, SessionInfo, SessionRole };

export interface PushOptions {
  /** Deliver to this session too (it must be registered). */
  target?: string;
  /** The session whose background job produced the event: it gets it too, if still around. */
  originSession?: string;
}

export interface PushResult {
  /** "duplicate": an event with this id was already pushed within the dedup window; nothing was done. */
  status: "pushed" | "duplicate";
  /** Sessions the event was queued for. */
  sessions: string[];
  /** Of those, the queues no live session drains right now: the event waits there for one to start. */
  undrained: string[];
  event: GatewayEvent;
  /** Attempts it took (more than 1 when Redis was unreachable for a while). */
  attempts: number;
}

export interface ClaimResult {
  events: GatewayEvent[];
  /** Entries dropped because their id was already delivered or is in flight. */
  duplicates: number;
  /** Entries moved to the dead-letter list (unparseable or failing the schema). */
  deadLettered: number;
  /** The claimer no longer holds its session's lease: nothing was claimed. */
  displaced?: boolean;
}

export interface SessionRegistration {
  id: string;
  role: SessionRole;
  /** Durable sessions keep their queue while down (stable ids); ephemeral ones are reaped. */
  durable: boolean;
  /** Random per process: tells a restarted session from the one it replaces. */
  instance: string;
  pid?: number;
  cwd?: string;
  kind?: string;
  /** Queues this session drains (its own and, for a central, the legacy `main`); push-5.lua reads it. */
  queues?: string[];
}

export interface PreviousRegistration {
  instance: string;
  pid: number | undefined;
  host: string;
  /** Presence deadline of the previous instance (ms), 0 if none. */
  presenceDeadline: number;
}

/** Who holds a session id's lease: the one live instance allowed to drain its queues. */
export interface LeaseHolder {
  sessionId: string;
  instance: string;
  /** "daemon", "pi" (the extension), or what a custom consumer calls itself. */
  kind: string;
  pid: number | undefined;
  host: string;
  /** When this instance took the id (ms), 0 if unknown. */
  since: number;
  /** Presence deadline (ms): the lease expires then unless renewed. */
  expires: number;
  role: string;
}

export type RegisterResult = { status: "owner"; previous: PreviousRegistration } | { status: "held"; holder: LeaseHolder };

export interface DeadLetter {
  reason: string;
  session: string;
  raw: string;
  id?: string;
  at: number;
}

/** Who a turn answered and what the agent said first (a `replied` journal entry). */
export interface RepliedEntry {
  /** The request id (daemon command id, or the extension's batch id). */
  id: string;
  /** Where the turn came from: telegram, websocket, http, redis, heartbeat, watchdog, extension... */
  channel: string;
  /** Event types of an event turn. */
  types?: string[];
  /** Event sources of an event turn. */
  sources?: string[];
  /** The session that ran the turn. */
  session: string;
  /** The reply; only its first non-empty line is journaled, capped at REPLY_LINE_MAX characters. */
  text: string;
}

/** Longest reply line kept in a `replied` journal entry. */
export const REPLY_LINE_MAX = 200;

/** The first non-empty line of a reply, capped (with an ellipsis when cut). */
export function firstLine(text: string, max = REPLY_LINE_MAX): string {
  return capText(text.split("\n").map((l) => l.trim()).find(Boolean) ?? "", max);
}

/** How long a retrying producer waits in silence before it says that Redis has not answered yet. */
export const WAIT_NOTICE_MS = 500;

export interface ConnectBusOptions extends Partial<BusOptions> {
  /** Client name shown in CLIENT LIST. */
  name?: string;
  /** See ClientOptions.persistent. */
  persistent?: boolean;
}

export class GatewayBus {
  readonly keys: KeySpace;
  private readonly scripts: ScriptRunner;

  constructor(
    readonly client: Redis,
    readonly options: BusOptions,
  ) {
    this.keys = keySpace(options.prefix);
    this.scripts = installScripts(client);
  }

  /** Creates a client, waits until Redis answers (or fails with a clear error), returns the bus. */
  static async connect(overrides: ConnectBusOptions = {}): Promise<GatewayBus> {
    const { name = "pi-gateway", persistent = false, ...rest } = overrides;
    const options = resolveBusOptions(rest);
    const client = createClient(options.redisUrl, { name, persistent, connectTimeoutMs: options.connectTimeoutMs, caFile: options.redisCaFile });
    try {
      await connectClient(client, options.redisUrl, options.connectTimeoutMs);
    } catch (error) {
      dropClient(client);
      throw error;
    }
    return new GatewayBus(client, options);
  }

  /**
   * Connects, trying again while Redis is unreachable for up to `retryMs` (a producer's promise to
   * get its event through a Redis restart). `onWait` is told once, as soon as the first attempt
   * fails or has not been answered within `noticeAfterMs`, so the user is never left guessing.
   * A wrong password or certificate is not retried: it will not fix itself.
   */
  static async connectRetrying(
    overrides: ConnectBusOptions,
    retryMs: number,
    onWait: (error: RedisUnreachableError) => void,
    noticeAfterMs = WAIT_NOTICE_MS,
  ): Promise<GatewayBus> {
    const deadline = Date.now() + retryMs;
    const { name: _name, persistent: _persistent, ...settings } = overrides;
    const url = resolveBusOptions(settings).redisUrl;
    let told = false;
    const tell = (error: RedisUnreachableError) => {
      if (!told) onWait(error);
      told = true;
    };
    const slow = setTimeout(() => tell(redisUnreachable(url, undefined)), noticeAfterMs);
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          return await GatewayBus.connect(overrides);
        } catch (error) {
          const remaining = deadline - Date.now();
          if (!(error instanceof RedisUnreachableError) || !error.retryable || remaining <= 0) throw error;
          tell(error);
          await sleep(Math.min(retryPauseMs(attempt), remaining));
        }
      }
    } finally {
      clearTimeout(slow);
    }
  }

  /** A second client on the same server, e.g. for pub/sub or blocking reads. */
  duplicateClient(name: string): Redis {
    const copy = createClient(this.options.redisUrl, {
      name,
      persistent: true,
      connectTimeoutMs: this.options.connectTimeoutMs,
      caFile: this.options.redisCaFile,
    });
    return copy;
  }

  async close(): Promise<void> {
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }

  // ---------------------------------------------------------------- producing

  /** Pushes one event once (no retry). Throws GatewayError UNKNOWN_SESSION for an unknown target. */
  async push(event: GatewayEvent, options: PushOptions = {}): Promise<PushResult> {
    const target = options.target ?? event.target ?? "";
    const origin = options.originSession ?? event.originSession ?? "";
    // A lone UTF-16 surrogate (a string cut inside an emoji) serialises as "\ud83d", which Redis's
    // JSON decoder refuses: the event would be dead-lettered after "pushed". Make strings well formed.
    const raw = JSON.stringify(event, (_key, value: unknown) => (typeof value === "string" ? toWellFormed(value) : value));
    if (Buffer.byteLength(raw) > this.options.maxEventBytes) {
      throw new GatewayError(
        `event is ${Buffer.byteLength(raw)} bytes, over the ${this.options.maxEventBytes}-byte limit (GATEWAY_MAX_EVENT_BYTES)`,
        "EVENT_TOO_LARGE",
      );
    }
    const k = this.keys;
    const reply = (await this.scripts.push(
      [k.sessions, k.presence, k.pushed, k.deadLetters, k.journal],
      [
        k.prefix,
        event.id,
        raw,
        event.type,
        target,
        origin,
        this.options.legacySession,
        this.options.backlogCap,
        this.options.dedupWindowMs,
        this.options.journalCap,
        this.options.deadLetterCap,
        event.source,
        this.options.dedupMax,
      ],
    )) as unknown[];
    const [status, sessions = [], undrained = []] = reply as [string, string[]?, string[]?];
    if (status === "unknown-target") {
      const known = (await this.sessions()).map((s) => s.id);
      throw new GatewayError(
        `unknown session "${target}" (registered: ${known.length ? known.join(", ") : "none"})`,
        "UNKNOWN_SESSION",
      );
    }
    return { status: status === "duplicate" ? "duplicate" : "pushed", sessions, undrained, event, attempts: 1 };
  }

  /**
   * Pushes with retries while Redis is unreachable, always with the same event id: a retry of a
   * push that did land is recognised by the push script and not delivered twice. `onWait` is told
   * when the first attempt fails for want of Redis.
   */
  async pushWithRetry(
    event: GatewayEvent,
    options: PushOptions = {},
    retryMs = this.options.pushRetryMs,
    onWait?: (error: RedisUnreachableError) => void,
  ): Promise<PushResult> {
    const deadline = Date.now() + retryMs;
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await this.push(event, options);
        return { ...result, attempts: attempt };
      } catch (error) {
        if (error instanceof GatewayError || !isConnectionError(error) || Date.now() >= deadline) {
          if (isConnectionError(error)) {
            throw redisUnreachable(this.options.redisUrl, error as Error).withNote(`retried for ${formatDuration(retryMs)}, event ${event.id} not pushed`);
          }
          throw error;
        }
        if (attempt === 1) onWait?.(redisUnreachable(this.options.redisUrl, error as Error));
        await sleep(retryPauseMs(attempt));
      }
    }
  }

  /**
   * The original design's pushEvent(type, source, payload), with routing: builds the event
   * (fresh id, now) and pushes it with retries. Origin defaults to $GATEWAY_SESSION_ID, so a job
   * started from a session's shell reports back to that session.
   */
  pushEvent(type: string, source: string, payload: unknown = {}, options: PushOptions & { id?: string } = {}): Promise<PushResult> {
    const originSession = options.originSession ?? (process.env.GATEWAY_SESSION_ID || undefined);
    const event = createEvent(type, source, payload, { id: options.id, target: options.target, originSession });
    return this.pushWithRetry(event);
  }

  // ---------------------------------------------------------------- consuming

  /**
   * Claims up to `count` of the oldest pending events of a queue. Each returned event is in flight
   * until ack() (delivered), release() (hand back) or its lease expires (recoverExpired()).
   */
  async claim(sid: string, count = this.options.batchSize, claimer?: { session: string; instance: string }): Promise<ClaimResult> {
    const k = this.keys;
    const reply = (await this.scripts.claim(
      [k.events(sid), k.inflight(sid), k.leases(sid), k.delivered(sid), k.deadLetters, k.journal, k.counters, k.sessionInfo(claimer?.session ?? sid)],
      [count, this.options.leaseMs, this.options.dedupWindowMs, sid, this.options.deadLetterCap, this.options.journalCap, this.options.maxEventBytes, claimer?.instance ?? ""],
    )) as Array<string | number>;
    if (Number(reply[0]) === -1) return { events: [], duplicates: 0, deadLettered: 0, displaced: true };
    const duplicates = Number(reply[0]);
    let deadLettered = Number(reply[1]);
    const events: GatewayEvent[] = [];
    const rejects: Array<[string, string]> = [];
    for (let i = 2; i < reply.length; i += 2) {
      const id = String(reply[i]);
      const parsed = parseRawEvent(String(reply[i + 1]), this.options.maxEventBytes, id);
      if (parsed.ok) events.push(parsed.event);
      else rejects.push([id, parsed.reason]);
    }
    if (rejects.length) deadLettered += await this.reject(sid, rejects);
    return { events, duplicates, deadLettered };
  }

  /** Marks events delivered: they leave the in-flight set and their ids are remembered (dedup). */
  async ack(sid: string, ids: string[]): Promise<number> {
    if (!ids.length) return 0;
    const k = this.keys;
    return Number(await this.scripts.ack([k.inflight(sid), k.leases(sid), k.delivered(sid), k.journal], [sid, this.options.journalCap, this.options.dedupMax, ...ids]));
  }

  /** Moves in-flight entries to the dead-letter list with a reason each. */
  async reject(sid: string, entries: Array<[id: string, reason: string]>): Promise<number> {
    if (!entries.length) return 0;
    const k = this.keys;
    return Number(
      await this.scripts.reject(
        [k.inflight(sid), k.leases(sid), k.deadLetters, k.journal],
        [sid, this.options.deadLetterCap, this.options.journalCap, ...entries.flat()],
      ),
    );
  }

  /** Hands in-flight events back to the front of the queue (delivery failed; try again later). */
  release(sid: string, ids: string[]): Promise<number> {
    return ids.length ? this.recover(sid, "ids", ids) : Promise.resolve(0);
  }

  /**
   * Extends the lease of events this consumer still holds (the host has them but has not recorded
   * them yet). Returns how many were still in flight.
   */
  async renew(sid: string, ids: string[]): Promise<number> {
    if (!ids.length) return 0;
    const k = this.keys;
    return Number(await this.scripts.renew([k.inflight(sid), k.leases(sid)], [this.options.leaseMs, ...ids]));
  }

  /** Puts back events whose consumer died or hung (lease expired). */
  recoverExpired(sid: string): Promise<number> {
    return this.recover(sid, "expired");
  }

  /** Puts back every in-flight event; only when the previous consumer is known to be dead. */
  recoverAll(sid: string): Promise<number> {
    return this.recover(sid, "all");
  }

  private async recover(sid: string, mode: "expired" | "all" | "ids", ids: string[] = []): Promise<number> {
    const k = this.keys;
    return Number(await this.scripts.recover([k.events(sid), k.inflight(sid), k.leases(sid)], [mode, ...ids]));
  }

  // ---------------------------------------------------------------- presence

  /**
   * Registers a session or renews its lease and presence (see register-3.lua). Refused ("held")
   * while another instance holds a live lease on the id, unless `takeover` says to take it: "force"
   * from anyone, or an instance token to take it only from that holder (known to be dead).
   */
  async register(session: SessionRegistration, options: { takeover?: "force" | string } = {}): Promise<RegisterResult> {
    const k = this.keys;
    const fields: Array<string | number> = [
      "role", session.role,
      "durable", session.durable ? "1" : "0",
      "pid", session.pid ?? process.pid,
      "host", hostname(),
      "cwd", session.cwd ?? process.cwd(),
      "kind", session.kind ?? "pi",
      ...(session.queues ? ["drains", session.queues.join(",")] : []),
    ];
    const takeover = options.takeover === "force" ? "*" : (options.takeover ?? "");
    const reply = (await this.scripts.register(
      [k.sessions, k.presence, k.sessionInfo(session.id)],
      [session.id, this.options.presenceTtlMs, takeover, session.instance, ...fields],
    )) as string[];
    if (reply[0] === "held") return { status: "held", holder: toLeaseHolder(session.id, reply.slice(1)) };
    const [, instance, pid, host, deadline] = reply;
    return {
      status: "owner",
      previous: { instance: instance ?? "", pid: pid ? Number(pid) : undefined, host: host ?? "", presenceDeadline: deadline ? Number(deadline) : 0 },
    };
  }

  /** The live holder of a session id's lease, or undefined when nobody holds it (free or expired). */
  async leaseHolder(sid: string): Promise<LeaseHolder | undefined> {
    const k = this.keys;
    const [fields, deadline, now] = await Promise.all([
      this.client.hmget(k.sessionInfo(sid), "instance", "pid", "host", "kind", "started", "role"),
      this.client.zscore(k.presence, sid),
      this.serverTime(),
    ]);
    const [instance, pid, host, kind, started, role] = fields;
    if (!instance || !deadline || Number(deadline) < now) return undefined;
    return toLeaseHolder(sid, [instance, pid ?? "", host ?? "", kind ?? "", started ?? "", deadline, role ?? ""]);
  }

  /** A session shuts down cleanly (see retire-3.lua for what happens to its queue). */
  async unregister(sid: string, instance: string): Promise<void> {
    const k = this.keys;
    await this.scripts.retire([k.sessions, k.presence, k.deadLetters], [k.prefix, this.options.deadLetterCap, "session", sid, instance, this.options.journalCap]);
  }

  /** Reaps sessions whose presence expired; returns their ids with how many events were dead-lettered. */
  async reapExpired(): Promise<Array<{ id: string; deadLettered: number }>> {
    const k = this.keys;
    const reply = (await this.scripts.retire([k.sessions, k.presence, k.deadLetters], [k.prefix, this.options.deadLetterCap, "expired", "", "", this.options.journalCap])) as Array<
      string | number
    >;
    const reaped: Array<{ id: string; deadLettered: number }> = [];
    for (let i = 0; i < reply.length; i += 2) reaped.push({ id: String(reply[i]), deadLettered: Number(reply[i + 1]) });
    return reaped;
  }

  async sessions(): Promise<SessionInfo[]> {
    const k = this.keys;
    const ids = (await this.client.smembers(k.sessions)).sort();
    if (!ids.length) return [];
    const now = await this.serverTime();
    const pipeline = this.client.pipeline();
    for (const id of ids) {
      pipeline.hgetall(k.sessionInfo(id));
      pipeline.zscore(k.presence, id);
      pipeline.llen(k.events(id));
      pipeline.hlen(k.inflight(id));
    }
    const results = (await pipeline.exec()) ?? [];
    return ids.map((id, i) => {
      const info = (results[i * 4]?.[1] ?? {}) as Record<string, string>;
      const deadline = Number(results[i * 4 + 1]?.[1] ?? 0);
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
        pending: Number(results[i * 4 + 2]?.[1] ?? 0),
        inFlight: Number(results[i * 4 + 3]?.[1] ?? 0),
      };
    });
  }

  // ---------------------------------------------------------------- inspection

  async pending(sid: string): Promise<number> {
    return this.client.llen(this.keys.events(sid));
  }

  async deadLetters(limit = 50): Promise<DeadLetter[]> {
    const raw = await this.client.lrange(this.keys.deadLetters, 0, limit - 1);
    return raw.map(readDeadLetter);
  }

  /** The newest `count` journal entries, oldest first. */
  async journal(count = 20): Promise<JournalEntry[]> {
    const rows = await this.client.xrevrange(this.keys.journal, "+", "-", "COUNT", count);
    return rows.reverse().map(toJournalEntry);
  }

  /** Up to `limit` journal entries strictly after `afterId`, oldest first (paging forward never skips). */
  async journalSince(afterId: string, limit: number): Promise<JournalEntry[]> {
    const rows = await this.client.xrange(this.keys.journal, `(${afterId}`, "+", "COUNT", limit);
    return rows.map(toJournalEntry);
  }

  /** Journal entries after `lastId`, waiting up to `blockMs` for new ones (use a dedicated client). */
  async journalAfter(client: Redis, lastId: string, blockMs: number): Promise<JournalEntry[]> {
    const reply = (await client.xread("COUNT", 500, "BLOCK", blockMs, "STREAMS", this.keys.journal, lastId)) as
      | Array<[string, Array<[string, string[]]>]>
      | null;
    return reply?.[0]?.[1].map(toJournalEntry) ?? [];
  }

  /** Journals a `replied` entry: the agent answered a turn (origin and the reply's first line). */
  async journalReplied(entry: RepliedEntry): Promise<string> {
    const unique = (values: string[] | undefined) => [...new Set(values ?? [])].join(",");
    return String(
      await this.scripts.replied(
        [this.keys.journal],
        [this.options.journalCap, entry.id, entry.channel, unique(entry.types), entry.session, firstLine(entry.text), unique(entry.sources)],
      ),
    );
  }

  async lastHeartbeat(): Promise<number | null> {
    const value = await this.client.get(this.keys.lastHeartbeat);
    return value ? Number(value) : null;
  }

  async recordHeartbeat(at = Date.now()): Promise<void> {
    await this.client.set(this.keys.lastHeartbeat, at);
  }

  /** Publishes a central session's watchdog on its record, for `pi-gateway status` and `doctor` (it is only visible from inside). */
  async recordWatchdog(sessionId: string, state: string, thresholdMs: number): Promise<void> {
    await this.client.hset(this.keys.sessionInfo(sessionId), "watchdog", state, "watchdogThreshold", thresholdMs);
  }

  async status(): Promise<BusStatus> {
    const k = this.keys;
    const [info, persistence, appendfsync, sessions, deadLetters, duplicates, journalLength, lastHeartbeat] = await Promise.all([
      this.client.info("server"),
      this.client.info("persistence"),
      // CONFIG is often disabled on managed Redis; status still works without it.
      this.client.config("GET", "appendfsync").catch(() => ["appendfsync", "unknown"]),
      this.sessions(),
      this.client.llen(k.deadLetters),
      this.client.hget(k.counters, "duplicates"),
      this.client.xlen(k.journal),
      this.lastHeartbeat(),
    ]);
    // sessions() already counted each session's queue; only the legacy queue may be unregistered.
    const backlog: Record<string, number> = Object.fromEntries(sessions.map((s) => [s.id, s.pending]));
    backlog[this.options.legacySession] ??= await this.pending(this.options.legacySession);
    return {
      redis: {
        url: this.options.redisUrl,
        version: /redis_version:(\S+)/.exec(info)?.[1] ?? "unknown",
        aof: /aof_enabled:1/.test(persistence),
        appendfsync: String((appendfsync as string[])[1] ?? "unknown"),
      },
      sessions,
      backlog,
      deadLetters,
      duplicates: Number(duplicates ?? 0),
      journalLength,
      lastHeartbeat,
    };
  }

  /** Redis server time in ms: presence deadlines are computed by the server, so compare with it. */
  async serverTime(): Promise<number> {
    const [seconds, micros] = await this.client.time();
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  }
}

/**
 * One dead-letter list entry as shown to a user. Entries written by hand or by an older version may
 * lack a field, or hold a reason that is not text (Lua's cjson writes an empty table as `{}` or
 * `[]`): every letter still gets a reason that reads as a sentence.
 */
function readDeadLetter(entry: string): DeadLetter {
  let value: Partial<Record<keyof DeadLetter, unknown>>;
  try {
    value = JSON.parse(entry) as typeof value;
  } catch {
    return { reason: "unreadable dead-letter entry (not JSON); the raw entry is shown as is", session: "?", raw: entry, at: 0 };
  }
  if (typeof value !== "object" || value === null) value = {};
  const reason = typeof value.reason === "string" && value.reason.trim() ? value.reason : "no reason recorded with this dead letter";
  const letter: DeadLetter = {
    reason,
    session: typeof value.session === "string" ? value.session : "?",
    raw: typeof value.raw === "string" ? value.raw : JSON.stringify(value.raw ?? null),
    at: typeof value.at === "number" ? value.at : 0,
  };
  if (typeof value.id === "string") letter.id = value.id;
  return letter;
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

function toJournalEntry([streamId, fields]: [string, string[]]): JournalEntry {
  const map: Record<string, string> = {};
  for (let i = 0; i < fields.length; i += 2) map[fields[i]!] = fields[i + 1]!;
  return {
    streamId,
    at: Number(streamId.split("-")[0]),
    kind: map.kind ?? "?",
    id: map.id ?? "",
    type: map.type,
    source: map.source,
    sessions: map.sessions ? map.sessions.split(",").filter(Boolean) : [],
    reason: map.reason,
    event: map.event,
    channel: map.channel,
    reply: map.reply,
  };
}

/** Errors that mean "Redis was not reachable", as opposed to a refused command. */
export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === "MaxRetriesPerRequestError") return true;
  const code = (error as NodeJS.ErrnoException).code ?? "";
  if (["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EHOSTUNREACH"].includes(code)) return true;
  return /Connection is closed|Stream isn't writeable|connect ETIMEDOUT|LOADING/.test(error.message);
}

/** The pause before attempt `attempt + 1` of a producer's connect or push: 250 ms more each time, at most 2 s. */
function retryPauseMs(attempt: number): number {
  return Math.min(250 * attempt, 2_000);
}

function toWellFormed(value: string): string {
  return (value as string & { toWellFormed(): string }).toWellFormed();
}
