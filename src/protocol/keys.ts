/**
 * Redis key names. The defaults are exactly the original design's (`agent:events:<sid>`,
 * `agent:notify:<sid>`, `agent:gateway:sessions`) so existing producers keep working; a different
 * prefix lets several gateways share one Redis.
 */
export const DEFAULT_PREFIX = "agent";
/** Where events go when no live session would otherwise receive them (the original single-session id). */
export const LEGACY_SESSION = "main";
/** The original design's id for the central (always-on) session. */
export const DEFAULT_CENTRAL_SESSION = "gateway";

export interface KeySpace {
  prefix: string;
  /** List of pending events (producers LPUSH, consumers claim from the tail: oldest first). */
  events(sid: string): string;
  /** Pub/sub channel that wakes the session's consumer. */
  notify(sid: string): string;
  /** Hash event id -> raw entry, for entries claimed but not yet acknowledged. */
  inflight(sid: string): string;
  /** Sorted set event id -> lease deadline (ms); an expired lease means the consumer died. */
  leases(sid: string): string;
  /** Sorted set event id -> time acknowledged (ms): persistent dedup, pruned after its TTL. */
  delivered(sid: string): string;
  /** Hash with a session's metadata (role, pid, host, cwd, started, durable). */
  sessionInfo(sid: string): string;
  /** Set of registered session ids (the original design's registry). */
  sessions: string;
  /** Sorted set session id -> presence deadline (ms). */
  presence: string;
  /** Set of the session ids registered as central: the push's fan-out targets, read without scanning every session. */
  centrals: string;
  /** Set of the session ids whose `drains` lists this queue (kept by register/retire, read by push). */
  drainers(queue: string): string;
  /** "1" once the push script has indexed a registry written before `centrals`/`drainers` existed. */
  indexed: string;
  /** Sorted set event id -> time pushed (ms): makes a producer's retry with the same id a no-op. */
  pushed: string;
  /** List of dead letters: JSON {reason, raw, session, at}. */
  deadLetters: string;
  /** Capped stream of what happened: pushed / delivered / dead-lettered. */
  journal: string;
  /** Hash of running totals (`duplicates`: entries not delivered again because their id was seen). */
  counters: string;
  /** Hash of runtime configuration shared by all sessions (watchdog thresholds, ...). */
  config: string;
  /** String holding the time (ms) of the last heartbeat seen. */
  lastHeartbeat: string;
  /** Hash schedule id -> JSON definition (src/bus/schedules.ts). */
  schedules: string;
  /** Sorted set schedule id -> next due time (ms): the firing CAS compares this score. */
  schedulesDue: string;
  /** Capped stream of notifications for the owner (src/bus/notifications.ts). */
  notifications: string;
  /** String: the stream id of the newest notification delivered; later ones are pending. */
  notificationsDelivered: string;
  /** Hash pairing code -> JSON request of an unknown Telegram user (src/bus/pairing.ts). */
  pairingRequests: string;
  /** Sorted set pairing code -> expiry time (ms). */
  pairingExpiry: string;
  /** Hash user id -> their live pairing code (one per user). */
  pairingUsers: string;
  /** Hash user id -> JSON of the approved request: users paired with the gateway. */
  pairingApproved: string;
}

export function keySpace(prefix: string = DEFAULT_PREFIX): KeySpace {
  const p = prefix;
  return {
    prefix: p,
    events: (sid) => `${p}:events:${sid}`,
    notify: (sid) => `${p}:notify:${sid}`,
    inflight: (sid) => `${p}:inflight:${sid}`,
    leases: (sid) => `${p}:leases:${sid}`,
    delivered: (sid) => `${p}:delivered:${sid}`,
    sessionInfo: (sid) => `${p}:gateway:session:${sid}`,
    sessions: `${p}:gateway:sessions`,
    presence: `${p}:gateway:presence`,
    centrals: `${p}:gateway:centrals`,
    drainers: (queue) => `${p}:gateway:drainers:${queue}`,
    indexed: `${p}:gateway:indexed`,
    pushed: `${p}:gateway:pushed`,
    deadLetters: `${p}:gateway:deadletter`,
    journal: `${p}:gateway:journal`,
    counters: `${p}:gateway:counters`,
    config: `${p}:gateway:config`,
    lastHeartbeat: `${p}:gateway:last-heartbeat`,
    schedules: `${p}:gateway:schedules`,
    schedulesDue: `${p}:gateway:schedules:due`,
    notifications: `${p}:gateway:notifications`,
    notificationsDelivered: `${p}:gateway:notifications:delivered`,
    pairingRequests: `${p}:gateway:pairing:requests`,
    pairingExpiry: `${p}:gateway:pairing:expiry`,
    pairingUsers: `${p}:gateway:pairing:users`,
    pairingApproved: `${p}:gateway:pairing:approved`,
  };
}

/** A session's role on the bus: the central receives what is addressed to nobody in particular. */
export type SessionRole = "central" | "satellite";
