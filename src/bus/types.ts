/**
 * The shapes that leave the bus (what push, claim, register, sessions, journal and status return),
 * and the context every bus module works on. None of them carries an ioredis type except the
 * context, which never leaves src/bus.
 */
import type { RedisClient } from "./connection.js";
import type { BusOptions } from "../config/bus-options.js";
import type { GatewayEvent } from "../protocol/event.js";
import type { KeySpace } from "../protocol/keys.js";
import type { ScriptRunner } from "./scripts.js";
import type { BusStatus, JournalEntry, ProcessMemory, SessionInfo, SessionRole } from "./status-types.js";

/** What the web page reads too lives in status-types.ts (no Node imports); re-exported for the bus's callers. */
export type { BusStatus, JournalEntry, ProcessMemory, SessionInfo, SessionRole };

/** What each bus module (delivery, sessions, journal...) works on: one command client and its scripts. */
export interface BusContext {
  readonly client: RedisClient;
  readonly scripts: ScriptRunner;
  readonly keys: KeySpace;
  readonly options: BusOptions;
}

export interface PushOptions {
  /** Deliver to this session too (it must be registered). */
  target?: string;
  /** The session whose background job produced the event: it gets it too, if still around. */
  originSession?: string;
  /** Deliver to `target` only, not to the centrals and the origin (a schedule's firing). */
  exclusive?: boolean;
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
  /** Its process's memory, published with every presence tick (SessionInfo.memory). */
  memory?: ProcessMemory;
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

export type RegisterResult =
  | {
      status: "owner";
      previous: PreviousRegistration;
      /** Redis server time of the registration (ms): compare `previous.presenceDeadline` with it. */
      at: number;
      /** Some session's presence has lapsed: reapExpired() has work to do. */
      reapDue: boolean;
      /** A queue this session drains holds an in-flight entry whose lease expired: recover it. */
      recoverDue: boolean;
    }
  | { status: "held"; holder: LeaseHolder };

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

/** Facts about the Redis server: what `setup` checks and `status` shows. */
export interface ServerInfo {
  /** redis_version, undefined when INFO does not say. */
  version: string | undefined;
  /** Append-only file on: a Redis crash loses at most what appendfsync allows. */
  aof: boolean;
  /** A Redis Cluster: how many primaries serve its slots (absent on a single Redis). */
  primaries?: number;
}

/** How status and doctor name the server: "Redis Cluster (3 primaries)" or "Redis". */
export function serverKind(info: { primaries?: number }): string {
  return info.primaries ? `Redis Cluster (${info.primaries} primar${info.primaries === 1 ? "y" : "ies"})` : "Redis";
}

/** The Redis connection's state as ioredis names it: wait, connecting, connect, ready, reconnecting, close, end. */
export type ConnectionStatus = string;
