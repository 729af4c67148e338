/**
 * Redis connections. Every long-lived component uses two clients, as Redis requires: a subscribed
 * client can do nothing but pub/sub, so commands go through a second one.
 *
 * Long-lived clients ("persistent") queue commands while Redis is down and retry them forever,
 * reconnecting with capped exponential backoff: a consumer simply resumes after an outage. One-shot
 * clients (the CLI) fail fast with a clear message instead, and so does everyone's first connection
 * (connectClient).
 */
import { readFileSync } from "node:fs";
import { rootCertificates } from "node:tls";
import { Cluster, Redis, type RedisOptions } from "ioredis";
import { redactUrl } from "../config/bus-options.js";
import { backoffDelay, type Backoff } from "../util/backoff.js";
import { classifyRedisError, RedisUnreachableError } from "./errors.js";

/** A connection to a single Redis, or a Redis Cluster client (routes each command to its slot's primary). */
export type RedisClient = Redis | Cluster;

export interface ClientOptions {
  /** Shown in CLIENT LIST, helps when debugging a shared Redis. */
  name: string;
  /** Keep retrying commands through outages (true) or fail them after a few tries (false). */
  persistent: boolean;
  connectTimeoutMs: number;
  /** PEM file of a CA to trust for rediss:// (besides the system's). */
  caFile?: string;
}

/** Between reconnect attempts: 100ms, 200ms, ... up to 3s, each ±25 % so clients do not return in step. */
export const RECONNECT_BACKOFF: Backoff = { baseMs: 100, capMs: 3_000, jitter: 0.25 };

/** ioredis's retryStrategy: the wait before reconnect attempt `attempt` (never gives up). */
export function reconnectDelay(attempt: number): number {
  return backoffDelay(attempt, RECONNECT_BACKOFF);
}

export function createClient(url: string, options: ClientOptions): Redis {
  const client = new Redis(url, redisOptions(url, options));
  // Errors surface through connection state and failed commands; an unhandled 'error' event
  // would otherwise crash the host process (pi itself, for the extension).
  client.on("error", () => undefined);
  return client;
}

/** What every connection to a Redis server gets, alone or as a node of a cluster client. */
function redisOptions(url: string, options: ClientOptions): RedisOptions {
  return {
    connectionName: options.name,
    lazyConnect: true,
    connectTimeout: options.connectTimeoutMs,
    maxRetriesPerRequest: options.persistent ? null : 1,
    retryStrategy: reconnectDelay,
    // How long ioredis waits for the server to close a socket it ended (default 2s). A server that
    // accepted TCP but never answers never does: a failed one-shot command would linger that long.
    disconnectTimeout: 100,
    // A failover leaves us talking to a replica: reconnect and resend instead of failing writes.
    reconnectOnError: (error) => (error.message.startsWith("READONLY") ? 2 : false),
    ...(options.caFile && url.startsWith("rediss:") ? { tls: { ca: [...rootCertificates, readFileSync(options.caFile, "utf8")] } } : {}),
  };
}

/**
 * A Redis Cluster client: REDIS_URL and the REDIS_CLUSTER_NODES seeds are where it first asks for
 * the slot map; the user, password and TLS of REDIS_URL serve every node (a cluster has one ACL
 * per node but is set up alike). Commands follow MOVED/ASK redirects and wait out a failover
 * (CLUSTERDOWN, a primary gone) like a single client waits out a reconnect.
 */
export function createClusterClient(url: string, seeds: string[], options: ClientOptions): Cluster {
  const parsed = new URL(url);
  const nodes = [url, ...seeds].map((seed) => {
    const { hostname, port } = new URL(seed);
    return { host: hostname.replace(/^\[|\]$/g, ""), port: Number(port || 6379) };
  });
  const { connectionName, connectTimeout, maxRetriesPerRequest, disconnectTimeout, tls } = redisOptions(url, options);
  const client = new Cluster(nodes, {
    lazyConnect: true,
    clusterRetryStrategy: reconnectDelay,
    // During a failover the slot's primary is gone until its replica takes over (seconds): retry
    // the command meanwhile instead of failing it (a one-shot client still gives up: maxRetriesPerRequest).
    retryDelayOnClusterDown: 200,
    retryDelayOnFailover: 200,
    retryDelayOnTryAgain: 100,
    maxRedirections: 64,
    slotsRefreshTimeout: options.connectTimeoutMs,
    redisOptions: {
      connectionName,
      connectTimeout,
      maxRetriesPerRequest,
      disconnectTimeout,
      ...(tls ? { tls } : {}),
      ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
      ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    },
  });
  client.on("error", () => undefined);
  paceSubscriberReselection(client);
  return client;
}

/**
 * ioredis 5's cluster subscriber picks another node the moment its connection ends, without a pause:
 * with every node unreachable that is a busy loop (measured: 15.7 s of CPU in 15 s and RSS +250 MiB
 * for one subscribed client after the cluster stopped). Its picks are spaced here like our reconnects
 * (the first at once after a quiet spell, as ioredis does). Reaches into ioredis's internals: if they
 * change, this does nothing and test/cluster/subscriber-outage.test.ts fails.
 */
function paceSubscriberReselection(client: Cluster): void {
  const subscriber = (client as unknown as { subscriber?: { onSubscriberEnd?: () => void } }).subscriber;
  const reselect = subscriber?.onSubscriberEnd;
  if (!subscriber || typeof reselect !== "function") return;
  let attempt = 0;
  let lastEnd = 0;
  subscriber.onSubscriberEnd = () => {
    const now = Date.now();
    attempt = now - lastEnd > 30_000 ? 0 : attempt + 1;
    lastEnd = now;
    if (attempt === 0) return reselect();
    setTimeout(reselect, reconnectDelay(attempt)).unref();
  };
}

/**
 * Connects and waits until the client is ready. Fails at the first connection error (refused,
 * wrong password, bad certificate...) or after `timeoutMs` without an answer, with one line saying
 * why and what to do: this is start-up, where the user is waiting. A persistent client that was
 * not disconnected keeps reconnecting in the background regardless.
 */
export async function connectClient(client: RedisClient, url: string, timeoutMs: number): Promise<void> {
  if (client.status === "ready") return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(undefined), timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const fail = (cause: Error | undefined) => {
      cleanup();
      reject(redisUnreachable(url, cause, timeoutMs));
    };
    const onEnd = () => fail(new Error("Connection is closed."));
    const cleanup = () => {
      clearTimeout(timer);
      client.off("ready", onReady);
      client.off("end", onEnd);
      client.off("error", fail);
    };
    client.once("ready", onReady);
    client.once("end", onEnd);
    client.on("error", fail);
    if (client.status === "wait" || client.status === "end") client.connect().catch(() => undefined);
  });
}

/**
 * Is the server behind `client` a Redis Cluster node (INFO cluster: cluster_enabled:1)? Asked once
 * per connection, before any script runs. A server that will not answer INFO (an ACL without it, a
 * renamed command) cannot be told apart and is taken for a single Redis; a connection lost
 * meanwhile is the usual "unreachable".
 */
export async function isClusterNode(client: Redis, url: string): Promise<boolean> {
  let info: string;
  try {
    info = await client.info("cluster");
  } catch (error) {
    // A ReplyError is the server saying no to INFO, not a failed connection.
    if ((error as Error).name === "ReplyError") return false;
    throw redisUnreachable(url, error as Error);
  }
  return /^cluster_enabled:1\s*$/m.test(info);
}

/**
 * Gives up on a client at once: disconnect() alone ends the socket politely and waits for the
 * server's reply, which a server that never answers never sends.
 */
export function dropClient(client: RedisClient): void {
  // Destroy first: once disconnect() has begun the polite end, the socket closes only after it.
  if (client instanceof Redis) (client.stream as Redis["stream"] | undefined)?.destroy();
  client.disconnect();
}

/** The shared error for "could not use Redis at this URL", classified (see errors.ts). */
export function redisUnreachable(url: string, cause: Error | undefined, waitedMs?: number): RedisUnreachableError {
  return new RedisUnreachableError(redactUrl(url), classifyRedisError(cause, waitedMs));
}

/** Lives with the URL's validation; re-exported because callers meet it here, next to the clients. */
export { redactUrl };
