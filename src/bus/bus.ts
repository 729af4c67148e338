/**
 * GatewayBus: the one facade for every Redis operation of the gateway. The extension, the daemon,
 * the channels and the CLI go through its named methods; the work is done by the modules next to
 * it (producing, delivery, sessions, journal, dead letters, status, the daemon's command queue),
 * each on the same command client, and the atomic parts are the Lua scripts in ./commands (one
 * loader, scripts.ts). No code outside src/bus sees a Redis client.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { resolveBusOptions, type BusOptions } from "../config/bus-options.js";
import { createEvent, type GatewayEvent } from "../protocol/event.js";
import { keySpace, type KeySpace } from "../protocol/keys.js";
import { CommandQueueStore } from "./command-queue.js";
import { Cluster } from "ioredis";
import { connectClient, createClient, createClusterClient, dropClient, isClusterNode, redisUnreachable, type RedisClient } from "./connection.js";
import { deadLetterCount, deadLetters, purgeDeadLetters } from "./dead-letters.js";
import { ack, claim, recover, reject, renew } from "./delivery.js";
import { RedisUnreachableError, type NotAcknowledgedError } from "./errors.js";
import { journal, journalReader, journalReplied, journalSince, type JournalReader } from "./journal.js";
import { checkClusterReplicas } from "./cluster-replicas.js";
import { push, pushWithRetry, retryPauseMs } from "./producing.js";
import { installScripts } from "./scripts.js";
import { ScheduleStore } from "./schedules.js";
import { NotificationStore } from "./notifications.js";
import { PairingStore } from "./pairing.js";
import { leaseHolder, reapExpired, recordWatchdog, register, serverTime, sessions, unregister } from "./sessions.js";
import { lastHeartbeat, pending, recordHeartbeat, serverInfo, sharedConfig, status } from "./status.js";
import type * as T from "./types.js";

export * from "./types.js";
export { firstLine, REPLY_LINE_MAX, type JournalReader } from "./journal.js";
export { isConnectionError } from "./producing.js";
export type { CommandQueueStore } from "./command-queue.js";

/** How long a retrying producer waits in silence before it says that Redis has not answered yet. */
export const WAIT_NOTICE_MS = 500;

export interface ConnectBusOptions extends Partial<BusOptions> {
  /** Client name shown in CLIENT LIST. */
  name?: string;
  /** See ClientOptions.persistent. */
  persistent?: boolean;
}

/** GATEWAY_CLUSTER_WAIT_REPLICAS when options do not say (the setting's own default). */
const DEFAULT_WAIT_REPLICAS = 1;

export class GatewayBus {
  readonly keys: KeySpace;
  private readonly ctx: T.BusContext;

  /**
   * `client`: the command client. Public only for src/bus's own modules (the consumer watches its
   * connection events) and for tests that set up a scenario by hand; everything else uses the
   * named methods (test/architecture/redis-boundary.test.ts keeps src to that).
   */
  constructor(
    readonly client: RedisClient,
    readonly options: BusOptions,
  ) {
    this.keys = keySpace(options.prefix, { cluster: client instanceof Cluster });
    // docs/cluster.md §5: on a cluster an acknowledged write waits for its replicas (a single Redis has no failover to lose it in).
    const replication = this.keys.cluster ? { replicas: options.clusterWaitReplicas ?? DEFAULT_WAIT_REPLICAS, timeoutMs: options.connectTimeoutMs } : undefined;
    this.ctx = { client, scripts: installScripts(client, replication), keys: this.keys, options };
  }

  /**
   * Creates a client, waits until Redis answers (or fails with a clear error), returns the bus. A
   * Redis Cluster node (INFO cluster) gets a cluster client on REDIS_URL and REDIS_CLUSTER_NODES.
   */
  static async connect(overrides: ConnectBusOptions = {}): Promise<GatewayBus> {
    const { name = "pi-gateway", persistent = false, ...rest } = overrides;
    return GatewayBus.open(resolveBusOptions(rest), { name, persistent });
  }

  /** connect() with the options already resolved. */
  static async open(options: BusOptions, client: { name: string; persistent: boolean }): Promise<GatewayBus> {
    const { redisUrl: url, connectTimeoutMs, clusterNodes = [], redisCaFile: caFile } = options;
    const clientOptions = { ...client, connectTimeoutMs, caFile };
    // A single-node client asks first; on a single Redis it becomes the bus's client as it is.
    const single = createClient(url, clientOptions);
    let clusterNode: boolean;
    try {
      await connectClient(single, url, connectTimeoutMs);
      clusterNode = await isClusterNode(single, url);
    } catch (error) {
      dropClient(single);
      // REDIS_URL's node is down: the other seeds of a cluster may answer for it.
      if (!(clusterNodes.length && error instanceof RedisUnreachableError)) throw error;
      clusterNode = true;
    }
    if (!clusterNode) return new GatewayBus(single, options);
    dropClient(single);
    const cluster = createClusterClient(url, clusterNodes, clientOptions);
    try {
      await connectClient(cluster, url, connectTimeoutMs);
      await checkClusterReplicas(cluster, options.clusterWaitReplicas ?? DEFAULT_WAIT_REPLICAS);
    } catch (error) {
      dropClient(cluster);
      throw error;
    }
    return new GatewayBus(cluster, options);
  }

  /**
   * For a host that must neither wait for Redis nor give up on it (the extension inside pi): opens
   * the bus as connect() does, trying again with the producer's pauses for as long as Redis is
   * unreachable, until `signal` aborts (then it rejects with the signal's reason and leaves no client
   * behind). `onWait` hears every failed attempt, so the host can say why it still waits. A wrong
   * password or certificate is not retried: it will not fix itself.
   *
   * Why the bus is made only once Redis answered, rather than a bus whose client is swapped for a
   * cluster client after the fact: a bus's client and key space then stay fixed for its life, so no
   * operation can run with single-node key names on a cluster, and the detection is the one
   * connect() gives the CLI and the daemon. The host's part is to run without a bus meanwhile.
   */
  static async openPatiently(
    options: BusOptions,
    client: { name: string; persistent: boolean },
    signal: AbortSignal,
    onWait: (error: RedisUnreachableError) => void,
  ): Promise<GatewayBus> {
    for (let attempt = 1; ; attempt++) {
      signal.throwIfAborted();
      let bus: GatewayBus;
      try {
        bus = await GatewayBus.open(options, client);
      } catch (error) {
        if (!(error instanceof RedisUnreachableError) || !error.retryable) throw error;
        onWait(error);
        await sleep(retryPauseMs(attempt), undefined, { signal });
        continue;
      }
      if (signal.aborted) bus.disconnect();
      signal.throwIfAborted();
      return bus;
    }
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

  // ---------------------------------------------------------------- connection

  /** Calls `listener` at each attempt to reconnect after the connection to Redis was lost (metrics). */
  onReconnecting(listener: () => void): void {
    this.client.on("reconnecting", listener);
  }

  /** The connection's state as ioredis names it (ready, connecting, reconnecting, end...). */
  get connectionState(): T.ConnectionStatus {
    return this.client.status;
  }

  /** Connected and able to run commands now. */
  get isReady(): boolean {
    return this.client.status === "ready";
  }

  /** A second client on the same server (or cluster), e.g. for pub/sub or blocking reads (src/bus only). */
  duplicateClient(name: string): RedisClient {
    const { redisUrl: url, connectTimeoutMs, redisCaFile: caFile, clusterNodes = [] } = this.options;
    const options = { name, persistent: true, connectTimeoutMs, caFile };
    return this.keys.cluster ? createClusterClient(url, clusterNodes, options) : createClient(url, options);
  }

  /** Says goodbye politely (QUIT); drops the connection when Redis does not answer. */
  async close(): Promise<void> {
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }

  /** Ends the connection at once, without waiting for Redis (which may be gone). */
  disconnect(): void {
    this.client.disconnect();
  }

  // ---------------------------------------------------------------- producing

  /** Pushes one event once (no retry). Throws GatewayError UNKNOWN_SESSION for an unknown target. */
  push(event: GatewayEvent, options: T.PushOptions = {}): Promise<T.PushResult> {
    return push(this.ctx, event, options);
  }

  /** Pushes with retries while Redis is unreachable, always with the same event id (see producing.ts). */
  pushWithRetry(
    event: GatewayEvent,
    options: T.PushOptions = {},
    retryMs = this.options.pushRetryMs,
    onWait?: (error: RedisUnreachableError | NotAcknowledgedError) => void,
  ): Promise<T.PushResult> {
    return pushWithRetry(this.ctx, event, options, retryMs, onWait);
  }

  /**
   * The original design's pushEvent(type, source, payload), with routing: builds the event
   * (fresh id, now) and pushes it with retries. Origin defaults to $GATEWAY_SESSION_ID, so a job
   * started from a session's shell reports back to that session.
   */
  pushEvent(type: string, source: string, payload: unknown = {}, options: T.PushOptions & { id?: string } = {}): Promise<T.PushResult> {
    const originSession = options.originSession ?? (process.env.GATEWAY_SESSION_ID || undefined);
    const event = createEvent(type, source, payload, { id: options.id, target: options.target, originSession });
    return this.pushWithRetry(event);
  }

  // ---------------------------------------------------------------- consuming (delivery.ts)

  /** Claims up to `count` of the oldest pending events of a queue; each is in flight until ack, release or lease expiry. */
  claim(sid: string, count = this.options.batchSize, claimer?: { session: string; instance: string }): Promise<T.ClaimResult> {
    return claim(this.ctx, sid, count, claimer);
  }

  /** Marks events delivered: they leave the in-flight set and their ids are remembered (dedup). */
  ack(sid: string, ids: string[]): Promise<number> {
    return ack(this.ctx, sid, ids);
  }

  /** Moves in-flight entries to the dead-letter list with a reason each. */
  reject(sid: string, entries: Array<[id: string, reason: string]>): Promise<number> {
    return reject(this.ctx, sid, entries);
  }

  /** Hands in-flight events back to the front of the queue (delivery failed; try again later). */
  release(sid: string, ids: string[]): Promise<number> {
    return ids.length ? recover(this.ctx, sid, "ids", ids) : Promise.resolve(0);
  }

  /** Extends the lease of events this consumer still holds; returns how many were still in flight. */
  renew(sid: string, ids: string[]): Promise<number> {
    return renew(this.ctx, sid, ids);
  }

  /** Puts back events whose consumer died or hung (lease expired). */
  recoverExpired(sid: string): Promise<number> {
    return recover(this.ctx, sid, "expired");
  }

  /** Puts back every in-flight event; only when the previous consumer is known to be dead. */
  recoverAll(sid: string): Promise<number> {
    return recover(this.ctx, sid, "all");
  }

  // ---------------------------------------------------------------- presence (sessions.ts)

  /** Registers a session or renews its lease and presence; "held" while another live instance holds the id. */
  register(session: T.SessionRegistration, options: { takeover?: "force" | string; renew?: boolean } = {}): Promise<T.RegisterResult> {
    return register(this.ctx, session, options);
  }

  /** The live holder of a session id's lease, or undefined when nobody holds it (free or expired). */
  leaseHolder(sid: string): Promise<T.LeaseHolder | undefined> {
    return leaseHolder(this.ctx, sid);
  }

  /** A session shuts down cleanly (see retire-3.lua for what happens to its queue). */
  unregister(sid: string, instance: string): Promise<void> {
    return unregister(this.ctx, sid, instance);
  }

  /** Reaps sessions whose presence expired; returns their ids with how many events were dead-lettered. */
  reapExpired(): Promise<Array<{ id: string; deadLettered: number }>> {
    return reapExpired(this.ctx);
  }

  sessions(): Promise<T.SessionInfo[]> {
    return sessions(this.ctx);
  }

  /** Publishes a central session's watchdog state in its record, for `status` and `doctor`. */
  recordWatchdog(sessionId: string, state: string, thresholdMs: number): Promise<void> {
    return recordWatchdog(this.ctx, sessionId, state, thresholdMs);
  }

  // ---------------------------------------------------------------- the daemon's command queue

  /** The Redis half of the daemon's command queue for this session id (src/daemon/command-queue.ts is the policy). */
  commandQueue(session: string): CommandQueueStore {
    return new CommandQueueStore(this.ctx, session);
  }

  // ---------------------------------------------------------------- schedules and notifications

  /** Durable schedules (schedules.ts): add, list, remove, and the owner's firing. */
  get schedules(): ScheduleStore {
    return new ScheduleStore(this.ctx);
  }

  /** Notifications for the owner (notifications.ts): kept until a daemon delivers them. */
  get notifications(): NotificationStore {
    return new NotificationStore(this.ctx);
  }

  /** Telegram pairing requests and approved users (pairing.ts). */
  get pairing(): PairingStore {
    return new PairingStore(this.ctx);
  }

  // ---------------------------------------------------------------- inspection

  pending(sid: string): Promise<number> {
    return pending(this.ctx, sid);
  }

  deadLetters(limit = 50): Promise<T.DeadLetter[]> {
    return deadLetters(this.ctx, limit);
  }

  deadLetterCount(): Promise<number> {
    return deadLetterCount(this.ctx);
  }

  purgeDeadLetters(): Promise<void> {
    return purgeDeadLetters(this.ctx);
  }

  /** The newest `count` journal entries, oldest first. */
  journal(count = 20): Promise<T.JournalEntry[]> {
    return journal(this.ctx, count);
  }

  /** Up to `limit` journal entries strictly after `afterId`, oldest first (paging forward never skips). */
  journalSince(afterId: string, limit: number): Promise<T.JournalEntry[]> {
    return journalSince(this.ctx, afterId, limit);
  }

  /** A reader that waits for new journal entries on a connection of its own (`tail --follow`). */
  async journalReader(name: string): Promise<JournalReader> {
    const reader = this.duplicateClient(name);
    await connectClient(reader, this.options.redisUrl, this.options.connectTimeoutMs);
    return journalReader(this.ctx, reader);
  }

  /** Journals a `replied` entry: the agent answered a turn (origin and the reply's first line). */
  journalReplied(entry: T.RepliedEntry): Promise<string> {
    return journalReplied(this.ctx, entry);
  }

  lastHeartbeat(): Promise<number | null> {
    return lastHeartbeat(this.ctx);
  }

  recordHeartbeat(at = Date.now()): Promise<void> {
    return recordHeartbeat(this.ctx, at);
  }

  /** The settings hash shared through Redis (the watchdog threshold...), field → value. */
  sharedConfig(): Promise<Record<string, string>> {
    return sharedConfig(this.ctx);
  }

  /** The Redis version and whether it persists with an append-only file (setup's check). */
  serverInfo(): Promise<T.ServerInfo> {
    return serverInfo(this.ctx);
  }

  status(): Promise<T.BusStatus> {
    return status(this.ctx);
  }

  /** Redis server time in ms: presence deadlines are computed by the server, so compare with it. */
  serverTime(): Promise<number> {
    return serverTime(this.ctx);
  }
}
