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
  /** Cluster names (hash tags), see KeySpaceOptions. */
  cluster: boolean;
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
  /**
   * Cluster only (a single Redis fans out in one script and needs neither): sorted set event id ->
   * time, the ids the fan-out already put in this queue, so a retried fan-out step is a no-op.
   */
  enqueued(sid: string): string;
  /**
   * Cluster only: hash drainer session id -> its lease instance, mirrored into the queue's slot so
   * the claim checks the claimer's lease without reading its info hash (another slot).
   */
  owner(queue: string): string;
  /**
   * Where a claim of `queue` by session `claimer` reads the claimer's lease instance, as [hash key,
   * field]: the claimer's info hash (`instance`) on a single Redis; on a cluster the queue's `owner`
   * mirror (field: the claimer's id), in the queue's slot.
   */
  leaseOf(queue: string, claimer: string): [key: string, field: string];
  /** Where this session's scripts dead-letter: the global list on a single Redis, the session's own on a cluster. */
  deadLettersOf(sid: string): string;
  /** Where this session's scripts journal: the global stream on a single Redis, the session's own on a cluster. */
  journalOf(sid: string): string;
  /** Where this session's scripts count (duplicates): the global hash on a single Redis, the session's own on a cluster. */
  countersOf(sid: string): string;
  /** Cluster only: hash of a fan-out in progress (its targets), so a retry goes where the first try went. */
  fanout(id: string): string;
  /** Set of registered session ids (the original design's registry). */
  sessions: string;
  /** Sorted set session id -> presence deadline (ms). */
  presence: string;
  /** Set of the session ids registered as central: the push's fan-out targets, read without scanning every session. */
  centrals: string;
  /** Set of the session ids whose `drains` lists this queue (kept by register/retire, read by push). */
  drainers(queue: string): string;
  /**
   * Hash session id -> JSON {role, durable, drains}: what routing needs of each registered record,
   * kept in the global slot by registration (the records are in their sessions' slots on a cluster).
   */
  routes: string;
  /**
   * Cluster only: set of the session ids reaped or stopped with records left in their own journal or
   * dead-letter list, so the readers still find them once the id has left the registry.
   */
  letterboxes: string;
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
  /** Base name of the daemon's command queue keys for a session (src/bus/command-queue.ts adds `:queue:<prio>`, `:seen`...). */
  daemon(sid: string): string;
}

/** Which column of names: a single Redis keeps the original names, a cluster tags them (docs/cluster.md §1). */
export interface KeySpaceOptions {
  /**
   * Redis Cluster: every key of a session shares the hash tag `{<prefix>:events:<sid>}` (its events
   * list's own name, which stays untagged, so the seed's raw `LPUSH agent:events:main` lands in the
   * slot of that queue's scripts), and every global key the tag `{<prefix>:gateway}`.
   */
  cluster?: boolean;
}

export function keySpace(prefix: string = DEFAULT_PREFIX, options: KeySpaceOptions = {}): KeySpace {
  const p = prefix;
  const cluster = options.cluster === true;
  // Global keys: one slot on a cluster (the registry and the journal; a few writes per push).
  const g = cluster ? `{${p}:gateway}` : `${p}:gateway`;
  // A session's key `what`: the original name on a single Redis, else tagged with its events list.
  const own = (what: string, sid: string, original: string) => (cluster ? `{${sessionTag(`${p}:events:${sid}`)}}:${what}` : original);
  const sessionInfo = (sid: string) => own("info", sid, `${p}:gateway:session:${sid}`);
  const owner = (queue: string) => own("owner", queue, `${p}:owner:${queue}`);
  return {
    prefix: p,
    cluster,
    events: (sid) => `${p}:events:${sid}`,
    notify: (sid) => `${p}:notify:${sid}`,
    inflight: (sid) => own("inflight", sid, `${p}:inflight:${sid}`),
    leases: (sid) => own("leases", sid, `${p}:leases:${sid}`),
    delivered: (sid) => own("delivered", sid, `${p}:delivered:${sid}`),
    sessionInfo,
    enqueued: (sid) => own("enqueued", sid, `${p}:enqueued:${sid}`),
    owner,
    leaseOf: (queue, claimer) => (cluster ? [owner(queue), claimer] : [sessionInfo(claimer), "instance"]),
    deadLettersOf: (sid) => own("deadletter", sid, `${g}:deadletter`),
    journalOf: (sid) => own("journal", sid, `${g}:journal`),
    countersOf: (sid) => own("counters", sid, `${g}:counters`),
    sessions: `${g}:sessions`,
    presence: `${g}:presence`,
    centrals: `${g}:centrals`,
    drainers: (queue) => `${g}:drainers:${queue}`,
    routes: `${g}:routes`,
    letterboxes: `${g}:letterboxes`,
    indexed: `${g}:indexed`,
    pushed: `${g}:pushed`,
    fanout: (id) => `${g}:fanout:${id}`,
    deadLetters: `${g}:deadletter`,
    journal: `${g}:journal`,
    counters: `${g}:counters`,
    config: `${g}:config`,
    lastHeartbeat: `${g}:last-heartbeat`,
    schedules: `${g}:schedules`,
    schedulesDue: `${g}:schedules:due`,
    notifications: `${g}:notifications`,
    notificationsDelivered: `${g}:notifications:delivered`,
    pairingRequests: `${g}:pairing:requests`,
    pairingExpiry: `${g}:pairing:expiry`,
    pairingUsers: `${g}:pairing:users`,
    pairingApproved: `${g}:pairing:approved`,
    // The default id keeps the original names (an upgrade finds its commands). On a cluster the
    // queue shares its session's tag, so its scripts journal and dead-letter in that one slot too.
    daemon: (sid) => own("daemon", sid, sid === DEFAULT_CENTRAL_SESSION ? `${p}:daemon` : `${p}:daemon:${sid}`),
  };
}

/**
 * The part of `key` a cluster hashes (Redis's rule: between the first `{` and the next `}`, when
 * not empty; else the whole key): a key tagged `{<that>}` lands in the same slot. A name whose
 * hashed part holds a `}` cannot be matched by any tag: such a session id is refused on a cluster.
 */
export function sessionTag(eventsKey: string): string {
  const open = eventsKey.indexOf("{");
  const close = open < 0 ? -1 : eventsKey.indexOf("}", open + 1);
  const hashed = close > open + 1 ? eventsKey.slice(open + 1, close) : eventsKey;
  if (hashed.includes("}")) {
    throw new Error(
      `the queue name "${eventsKey}" cannot be used on a Redis Cluster: the part of it a cluster hashes holds a "}", which no hash tag can carry (choose a session id or GATEWAY_PREFIX without braces)`,
    );
  }
  return hashed;
}

/** A session's role on the bus: the central receives what is addressed to nobody in particular. */
export type SessionRole = "central" | "satellite";
