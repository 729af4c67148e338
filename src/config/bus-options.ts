/**
 * Every tunable of the event bus, with its default and the environment variable that sets it.
 * Nothing is hard-coded elsewhere: the extension, the daemon and the CLI all read this.
 */
import { LEGACY_SESSION } from "../protocol/keys.js";
import { formatDuration } from "./duration.js";
import { settingError } from "./errors.js";
import { runningEmbeddedRedis } from "./embedded-redis-record.js";
import { parseRedisUrl } from "./redis-url.js";
import { parseSetting, resolveSettings, type Env } from "./resolve.js";
import { SETTINGS, settingNames, type SettingName } from "./schema.js";

export { parseRedisUrl, redactUrl, REDIS_URL_FORM } from "./redis-url.js";

export interface BusOptions {
  /** redis:// or rediss:// (TLS), with optional user:password and /db. */
  redisUrl: string;
  /** More seed nodes of a Redis Cluster (REDIS_CLUSTER_NODES), asked for the slot map besides redisUrl. */
  clusterNodes?: string[];
  /** CA certificate (PEM file) to trust for rediss://, e.g. a managed Redis with a private CA. */
  redisCaFile?: string;
  /** Key prefix; "agent" gives the original design's key names. */
  prefix: string;
  /** Session that receives events nobody else would (the original single-session id). */
  legacySession: string;
  /** How long delivered/pushed ids are remembered to refuse duplicates. */
  dedupWindowMs: number;
  /** Most ids each dedup set (pushed, delivered per session, the daemon's seen) keeps; the oldest go first. */
  dedupMax: number;
  /** How long a claimed event may stay unacknowledged before it is handed out again. */
  leaseMs: number;
  /** Pending events kept per session; older ones overflow to the dead-letter list. */
  backlogCap: number;
  /** Entries kept in the journal stream (approximate, Redis trims in whole nodes). */
  journalCap: number;
  /** Entries kept in the dead-letter list. */
  deadLetterCap: number;
  /** A session whose presence is not refreshed within this time counts as dead. */
  presenceTtlMs: number;
  /** How often a session refreshes its presence; unset: a third of the TTL (see presenceIntervalOf). */
  presenceIntervalMs?: number;
  /** Entries larger than this are dead-lettered unread. */
  maxEventBytes: number;
  /** Most events claimed (and so injected as one message) at a time. */
  batchSize: number;
  /**
   * Most bytes of entries one claim hands out (always at least one entry); unset: only batchSize
   * bounds a claim. The daemon sets it (DAEMON_CLAIM_MAX_BYTES): its claims are large.
   */
  claimMaxBytes?: number;
  /** Safety-net drain when no notification arrives (a notification can be missed during a reconnect). */
  pollIntervalMs: number;
  /** How long a producer keeps retrying a push while Redis is unreachable. */
  pushRetryMs: number;
  /** How long to wait for the first connection before reporting Redis unreachable. */
  connectTimeoutMs: number;
  /** On a Redis Cluster: replicas that must confirm an acknowledged write (WAIT, within connectTimeoutMs); 0 = none. */
  clusterWaitReplicas: number;
}

/** Where each option comes from. */
const BUS_SETTINGS = {
  prefix: "GATEWAY_PREFIX",
  dedupWindowMs: "GATEWAY_DEDUP_WINDOW",
  dedupMax: "GATEWAY_DEDUP_MAX",
  leaseMs: "GATEWAY_LEASE",
  backlogCap: "GATEWAY_BACKLOG_CAP",
  journalCap: "GATEWAY_JOURNAL_CAP",
  deadLetterCap: "GATEWAY_DEADLETTER_CAP",
  presenceTtlMs: "GATEWAY_PRESENCE_TTL",
  presenceIntervalMs: "GATEWAY_PRESENCE_INTERVAL",
  maxEventBytes: "GATEWAY_MAX_EVENT_BYTES",
  batchSize: "GATEWAY_BATCH_SIZE",
  pollIntervalMs: "GATEWAY_POLL_INTERVAL",
  pushRetryMs: "GATEWAY_PUSH_RETRY",
  connectTimeoutMs: "GATEWAY_CONNECT_TIMEOUT",
  clusterWaitReplicas: "GATEWAY_CLUSTER_WAIT_REPLICAS",
} as const satisfies Partial<Record<keyof BusOptions, SettingName>>;

/** The defaults, as the schema declares them. */
export const DEFAULT_BUS_OPTIONS: BusOptions = {
  redisUrl: SETTINGS.GATEWAY_DEFAULT_REDIS_URL.defaultValue,
  legacySession: LEGACY_SESSION,
  ...(Object.fromEntries(Object.entries(BUS_SETTINGS).map(([key, name]) => [key, SETTINGS[name].defaultValue])) as Omit<
    BusOptions,
    "redisUrl" | "legacySession" | "clusterNodes"
  >),
};

/** Names of the environment variables, for --help texts and docs. */
export const BUS_ENV_VARS = settingNames("bus");

/** Defaults (from the schema), overridden by the environment, overridden by explicit values. */
export function resolveBusOptions(overrides: Partial<BusOptions> = {}, env: Env = process.env): BusOptions {
  const options: BusOptions = { ...DEFAULT_BUS_OPTIONS };
  const config = resolveSettings(env, [...Object.values(BUS_SETTINGS), "REDIS_URL", "REDIS_CLUSTER_NODES", "GATEWAY_REDIS_CA_FILE"]);
  for (const [key, name] of Object.entries(BUS_SETTINGS)) (options as unknown as Record<string, unknown>)[key] = config[name];
  options.redisUrl = config.REDIS_URL ?? defaultRedisUrl(env);
  if (config.REDIS_CLUSTER_NODES?.length) options.clusterNodes = config.REDIS_CLUSTER_NODES;
  if (config.GATEWAY_REDIS_CA_FILE) options.redisCaFile = config.GATEWAY_REDIS_CA_FILE;
  for (const [key, value] of Object.entries(overrides)) {
    if (value !== undefined) (options as unknown as Record<string, unknown>)[key] = value;
  }
  if (overrides.redisUrl !== undefined) parseRedisUrl(overrides.redisUrl, "redisUrl");
  checkPresenceInterval(options, env);
  return options;
}

/**
 * How often a session refreshes its presence: GATEWAY_PRESENCE_INTERVAL, else a third of the TTL
 * (so a live session may miss two refreshes before it counts as dead), at least 250 ms.
 */
export function presenceIntervalOf(options: Pick<BusOptions, "presenceTtlMs" | "presenceIntervalMs">): number {
  return options.presenceIntervalMs ?? Math.max(Math.floor(options.presenceTtlMs / 3), 250);
}

/** An interval of at least the TTL would let a live session count as dead between two refreshes. */
function checkPresenceInterval(options: BusOptions, env: Env): void {
  const interval = options.presenceIntervalMs;
  if (interval === undefined || interval < options.presenceTtlMs) return;
  const shown = env.GATEWAY_PRESENCE_INTERVAL?.trim() || formatDuration(interval);
  const ttl = formatDuration(options.presenceTtlMs);
  throw settingError(
    "GATEWAY_PRESENCE_INTERVAL",
    shown,
    `is not shorter than GATEWAY_PRESENCE_TTL (${ttl}): a live session would count as dead between two refreshes`,
    `a duration under ${ttl}, e.g. ${formatDuration(Math.max(Math.floor(options.presenceTtlMs / 3), 100))}, or unset for a third of the TTL`,
  );
}

/**
 * Redis when REDIS_URL is unset: the embedded redis-server of a running `pi-gateway daemon` (it
 * only starts one when the default address did not answer, and every command must reach the same
 * Redis as the daemon), else the default address. GATEWAY_DEFAULT_REDIS_URL replaces that default
 * address; it exists so tests never touch a real Redis on 6379.
 */
export function defaultRedisUrl(env: Env = process.env): string {
  const embedded = runningEmbeddedRedis(env);
  if (embedded) return embedded.url;
  return parseSetting("GATEWAY_DEFAULT_REDIS_URL", env.GATEWAY_DEFAULT_REDIS_URL);
}

/** A whole number of at least 1 from a flag (--lines...); throws naming the flag. */
export function parseCount(value: string, from = "value"): number {
  const n = /^\s*\d{1,16}\s*$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1)) throw settingError(from, value, "is not a positive whole number", "a whole number, at least 1");
  return n;
}
