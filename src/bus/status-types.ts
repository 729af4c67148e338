/**
 * What the bus reports: sessions, journal entries and its status (GET /api/status and
 * /api/journal answer with them). Types only and free of Node imports, so the browser app can
 * import them too.
 */

import type { SessionRole } from "../protocol/keys.js";
import type { ProcessMemory } from "../util/memory-types.js";

export type { ProcessMemory, SessionRole };

export interface SessionInfo {
  id: string;
  role: SessionRole;
  durable: boolean;
  live: boolean;
  presenceDeadline: number;
  pid?: number;
  host?: string;
  cwd?: string;
  kind?: string;
  started?: number;
  lastSeen?: number;
  pending: number;
  inFlight: number;
  /** Watchdog state published by a central session: armed / alarm / stopped. */
  watchdog?: string;
  watchdogThresholdMs?: number;
  /** Its process's memory in bytes at its latest presence tick (a session of a version before it: absent). */
  memory?: ProcessMemory;
}

export interface JournalEntry {
  streamId: string;
  at: number;
  kind: "pushed" | "delivered" | "dead-letter" | string;
  id: string;
  type?: string;
  source?: string;
  sessions: string[];
  reason?: string;
  event?: string;
  /** `replied` entries: the channel the turn came from, and the first line of the agent's reply. */
  channel?: string;
  reply?: string;
}

export interface BusStatus {
  /** `primaries`: a Redis Cluster, how many primaries serve its slots (absent on a single Redis). */
  redis: { url: string; version: string; aof: boolean; appendfsync: string; primaries?: number };
  sessions: SessionInfo[];
  /** Pending events per queue, including queues without a registered session (like `main`). */
  backlog: Record<string, number>;
  deadLetters: number;
  /** Entries not delivered again because their id was already pushed, delivered or in flight (all time). */
  duplicates: number;
  /** Events accepted by the push script (pi-gateway push, HTTP, webhooks, schedules), each once whatever its fan-out (all time); a raw LPUSH producer bypasses it. */
  pushed: number;
  journalLength: number;
  lastHeartbeat: number | null;
}
