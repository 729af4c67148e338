/**
 * Every tunable of the event bus, with its default and the environment variable that sets it.
 * Nothing is hard-coded elsewhere: the extension, the daemon and the CLI all read this.
 */
import { DEFAULT_PREFIX, LEGACY_SESSION } from "../protocol/keys.js";
import { parseDuration } from "./duration.js";
import { ConfigError } from "./errors.js";
import { runningEmbeddedRedis } from "./embedded-redis-record.js";

export interface BusOptions {
  /** redis:// or rediss:// (TLS), with optional user:password and /db. */
  redisUrl: string;
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
  /** Entries larger than this are dead-lettered unread. */
  maxEventBytes: number;
  /** Most events claimed (and so injected as one message) at a time. */
  batchSize: number;
  /** Safety-net drain when no notification arrives (a notification can be missed during a reconnect). */
  pollIntervalMs: number;
  /** How long a producer keeps retrying a push while Redis is unreachable. */
  pushRetryMs: number;
  /** How long to wait for the first connection before reporting Redis unreachable. */
  connectTimeoutMs: number;
}

export const DEFAULT_BUS_OPTIONS: BusOptions = {
  redisUrl: "redis://127.0.0.1:6379",
  prefix: DEFAULT_PREFIX,
  legacySession: LEGACY_SESSION,
  // Covers any producer retry and lease recovery by a wide margin, without keeping ids forever.
  dedupWindowMs: 86_400_000,
  // ~100-140 bytes per id in Redis (uuid-sized ids): 100k ids is at most ~14 MB per set, a day at more than one event per
  // second per session, far beyond any producer's retry or a lease recovery.
  dedupMax: 100_000,
  leaseMs: 15_000,
  backlogCap: 10_000,
  journalCap: 10_000,
  deadLetterCap: 10_000,
  presenceTtlMs: 30_000,
  maxEventBytes: 1024 * 1024,
  batchSize: 50,
  pollIntervalMs: 5_000,
  pushRetryMs: 30_000,
  // Short: a one-shot command must say "Redis is not there" within 2 s of being started, and a
  // loopback or same-region Redis answers in milliseconds. A distant one may need more.
  connectTimeoutMs: 1_000,
};

type Env = Record<string, string | undefined>;

const durationVars: Array<[keyof BusOptions, string]> = [
  ["dedupWindowMs", "GATEWAY_DEDUP_WINDOW"],
  ["leaseMs", "GATEWAY_LEASE"],
  ["presenceTtlMs", "GATEWAY_PRESENCE_TTL"],
  ["pollIntervalMs", "GATEWAY_POLL_INTERVAL"],
  ["pushRetryMs", "GATEWAY_PUSH_RETRY"],
  ["connectTimeoutMs", "GATEWAY_CONNECT_TIMEOUT"],
];
const countVars: Array<[keyof BusOptions, string]> = [
  ["dedupMax", "GATEWAY_DEDUP_MAX"],
  ["backlogCap", "GATEWAY_BACKLOG_CAP"],
  ["journalCap", "GATEWAY_JOURNAL_CAP"],
  ["deadLetterCap", "GATEWAY_DEADLETTER_CAP"],
  ["maxEventBytes", "GATEWAY_MAX_EVENT_BYTES"],
  ["batchSize", "GATEWAY_BATCH_SIZE"],
];

/** Names of the environment variables, for --help texts and docs. */
export const BUS_ENV_VARS = ["REDIS_URL", "GATEWAY_REDIS_CA_FILE", "GATEWAY_PREFIX", ...durationVars.map(([, v]) => v), ...countVars.map(([, v]) => v)];

/** Defaults, overridden by the environment, overridden by explicit values. */
export function resolveBusOptions(overrides: Partial<BusOptions> = {}, env: Env = process.env): BusOptions {
  const options: BusOptions = { ...DEFAULT_BUS_OPTIONS };
  // Empty means unset: a blank line in a service file gives the default rather than an error.
  if (env.REDIS_URL) options.redisUrl = parseRedisUrl(env.REDIS_URL, "REDIS_URL");
  else options.redisUrl = defaultRedisUrl(env);
  if (env.GATEWAY_PREFIX) options.prefix = env.GATEWAY_PREFIX;
  if (env.GATEWAY_REDIS_CA_FILE) options.redisCaFile = env.GATEWAY_REDIS_CA_FILE;
  for (const [key, name] of durationVars) {
    const value = env[name];
    if (value) (options[key] as number) = withName(name, () => parseDuration(value));
  }
  for (const [key, name] of countVars) {
    const value = env[name];
    if (value) (options[key] as number) = withName(name, () => parseCount(value));
  }
  for (const [key, value] of Object.entries(overrides)) {
    if (value !== undefined) (options as unknown as Record<string, unknown>)[key] = value;
  }
  if (overrides.redisUrl !== undefined) parseRedisUrl(overrides.redisUrl, "redisUrl");
  return options;
}

export const REDIS_URL_FORM = "redis://[user:password@]host:port[/db] or rediss://… for TLS";

/**
 * Checks a Redis URL before anything connects with it, so a typo is one line naming where it came
 * from (`from`: REDIS_URL, --redis-url...) and the expected form, not the Redis client's bare "Invalid URL"
 * or a connection attempt to somewhere unintended. Returns the URL unchanged.
 */
export function parseRedisUrl(value: string, from: string): string {
  const problem = redisUrlProblem(value);
  if (problem) throw new ConfigError(`${from}: ${problem}; expected ${REDIS_URL_FORM}`);
  return value;
}

function redisUrlProblem(value: string): string | undefined {
  if (!value.trim()) return "is empty";
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value)?.[1];
  if (!scheme) return `"${redactUrl(value)}" is not a URL`;
  if (!/^rediss?$/i.test(scheme)) return `${scheme}:// is not a Redis URL`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    const port = portOf(value.slice(scheme.length + 3));
    if (port !== undefined && !isPort(port)) return `port "${port}" is not a number from 1 to 65535`;
    return `"${redactUrl(value)}" is not a valid URL`;
  }
  if (!url.hostname) return "has no host";
  if (url.port === "0") return `port "0" is not a number from 1 to 65535`;
  if (!/^(\/\d*)?$/.test(url.pathname)) return `database "${url.pathname.slice(1)}" is not a number`;
  return undefined;
}

/** The port part of "user:pass@host:port/db", if any (an IPv6 host is in brackets). */
function portOf(rest: string): string | undefined {
  const authority = rest.split(/[/?#]/)[0]!;
  const host = authority.slice(authority.lastIndexOf("@") + 1);
  const match = /^(?:\[[^\]]*\]|[^:]*):(.*)$/.exec(host);
  return match?.[1];
}

function isPort(text: string): boolean {
  return /^\d+$/.test(text) && Number(text) >= 1 && Number(text) <= 65535;
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
  return env.GATEWAY_DEFAULT_REDIS_URL || DEFAULT_BUS_OPTIONS.redisUrl;
}

export function parseCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`"${value}" is not a positive whole number`);
  return n;
}

function withName<T>(name: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw new ConfigError(`${name}: ${(error as Error).message}`);
  }
}

/** The URL without its password, for messages and logs (masked even when the URL does not parse). */
export function redactUrl(url: string): string {
  // Without "//", URL() reads "user:secret@host" as scheme "user:" and a path: use the pattern.
  if (url.includes("://")) {
    try {
      const parsed = new URL(url);
      if (parsed.password) parsed.password = "***";
      return parsed.toString().replace(/\/$/, "");
    } catch {
      // not parseable: masked by the pattern below
    }
  }
  return url.replace(/^([^/@\s]*:\/\/)?([^/@\s:]*):[^/@\s]+@/, "$1$2:***@");
}
