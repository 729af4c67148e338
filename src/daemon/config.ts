/**
 * Daemon settings: environment first, flags override. Secrets (gateway token, Telegram token) come
 * from the environment or files, never from flags that would show up in `ps`.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { gatewayConfigDir } from "../config/env-file.js";
import { parseSetting, resolveConfig, type Env } from "../config/resolve.js";
import { SETTINGS, settingNames, type HookSettings } from "../config/schema.js";
import { resolveContextSettings, type ContextSettings } from "./context-budget.js";
import type { ReplyAddress } from "./types.js";

export interface TelegramSettings {
  token: string;
  apiRoot?: string;
  allowedUserIds: number[];
  allowedChatIds: number[];
  /** GATEWAY_FILES_DIR: received files go to <filesDir>/telegram/<date>/. */
  filesDir: string;
  photoMaxBytes: number;
  fileMaxBytes: number;
  /** TELEGRAM_PAIRING=0 leaves it undefined: strangers get nothing. */
  pairing?: { ttlMs: number; maxPending: number };
}

export interface DaemonSettings {
  host: string;
  port: number;
  token: string;
  tokenSource: string;
  /** What was wrong with the token file's mode and has been fixed (said at start). */
  tokenFileFixed?: string;
  /** GATEWAY_ALLOWED_HOSTS, GATEWAY_ALLOWED_ORIGINS (request-guard.ts). */
  allowedHosts: string[];
  allowedOrigins: string[];
  /** Queued prompts one client / one channel may have (GATEWAY_PROMPTS_PER_CLIENT, _PER_CHANNEL). */
  promptsPerClient: number;
  promptsPerChannel: number;
  /** Webhook requests read at once before their signature is checked (GATEWAY_HOOK_CONCURRENCY). */
  hookConcurrency: number;
  /** How long a disconnected WebSocket client's replies are kept (GATEWAY_WS_RESUME_GRACE). */
  resumeGraceMs: number;
  telegram?: TelegramSettings;
  owner?: ReplyAddress;
  hooks: Record<string, HookSettings>;
  queueModes: Record<string, "followUp" | "steer" | "collect">;
  turnTimeoutMs: number;
  turnRetries: number;
  turnRetryBackoffMs: number;
  shutdownGraceMs: number;
  agingMs: number;
  collectWindowMs: number;
  turnMaxEvents: number;
  turnMaxBytes: number;
  /** GATEWAY_TURN_SHOWN_EVENTS: events a turn shows one by one; the rest are summed up. */
  turnShownEvents: number;
  /** GATEWAY_CONTEXT_WINDOW, GATEWAY_COMPACT_AT: when the embedded pi's conversation is compacted. */
  context: ContextSettings;
}

export const DAEMON_ENV_VARS = settingNames("daemon", "context", "telegram");

/** Where received files are saved unless GATEWAY_FILES_DIR says otherwise. */
export function defaultFilesDir(home = homedir()): string {
  return join(gatewayConfigDir(home), "files");
}

export function defaultTokenFile(home = homedir()): string {
  return join(gatewayConfigDir(home), "token");
}

/** Where the daemon keeps its token: $GATEWAY_TOKEN_FILE, else ~/.config/pi-gateway/token. */
export function tokenFile(env: Env, home = homedir()): string {
  return parseSetting("GATEWAY_TOKEN_FILE", env.GATEWAY_TOKEN_FILE) ?? defaultTokenFile(home);
}

/** The token in a token file; throws when the file is empty. */
export function readTokenFile(file: string): string {
  const token = readFileSync(file, "utf8").trim();
  if (!token) throw new Error(`the token file ${file} is empty`);
  return token;
}

/**
 * The gateway token: $GATEWAY_TOKEN, else the token file (created with a strong random token, mode
 * 600). A token file others can read is made private before it is used (`fixed` says what was
 * wrong), or refused when that is not possible: the audit reporting it later is too late.
 */
export function resolveToken(env: Env, home = homedir()): { token: string; source: string; fixed?: string } {
  const fromEnv = parseSetting("GATEWAY_TOKEN", env.GATEWAY_TOKEN);
  if (fromEnv) return { token: fromEnv, source: "GATEWAY_TOKEN" };
  const file = tokenFile(env, home);
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, `${randomBytes(32).toString("base64url")}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
  }
  const fixed = makePrivate(file);
  return { token: readTokenFile(file), source: file, ...(fixed ? { fixed } : {}) };
}

/** Removes group and other permissions from a secret file; what was wrong, or undefined when nothing was. */
function makePrivate(file: string): string | undefined {
  const mode = statSync(file).mode & 0o777;
  if (!(mode & 0o077)) return undefined;
  const was = mode.toString(8).padStart(4, "0");
  try {
    chmodSync(file, mode & 0o700);
  } catch (error) {
    throw new Error(`the token file ${file} is readable by others (mode ${was}) and cannot be made private (${(error as Error).message}): chmod 600 ${file}`);
  }
  return `the token file ${file} had mode ${was} (others could read it); it is now ${(mode & 0o700).toString(8).padStart(4, "0")}`;
}

export const DEFAULT_LISTEN_HOST = SETTINGS.GATEWAY_HOST.defaultValue;
export const DEFAULT_LISTEN_PORT = SETTINGS.GATEWAY_PORT.defaultValue;

/**
 * Where the daemon listens: the flag, else the environment, else loopback:8787. Empty means unset,
 * as everywhere (an empty GATEWAY_HOST once meant every interface here while the security audit
 * read it as loopback): the daemon and `security audit` both ask this function.
 */
export function listenAddress(env: Env, flags: { host?: string; port?: string } = {}): { host: string; port: number } {
  const host = flags.host?.trim() ? parseSetting("GATEWAY_HOST", flags.host, "--host") : parseSetting("GATEWAY_HOST", env.GATEWAY_HOST);
  const port = flags.port?.trim() ? parseSetting("GATEWAY_PORT", flags.port, "--port") : parseSetting("GATEWAY_PORT", env.GATEWAY_PORT);
  return { host, port };
}

export function resolveDaemonSettings(env: Env = process.env, flags: { host?: string; port?: string } = {}): DaemonSettings {
  const config = resolveConfig(env);
  const { token, source, fixed } = resolveToken(env);
  const telegram = config.TELEGRAM_BOT_TOKEN
    ? {
        token: config.TELEGRAM_BOT_TOKEN,
        apiRoot: config.TELEGRAM_API_ROOT,
        allowedUserIds: config.TELEGRAM_ALLOWED_USERS ?? [],
        allowedChatIds: config.TELEGRAM_ALLOWED_CHATS ?? [],
        filesDir: config.GATEWAY_FILES_DIR ?? defaultFilesDir(env.HOME || homedir()),
        photoMaxBytes: config.GATEWAY_TELEGRAM_PHOTO_MAX,
        fileMaxBytes: config.GATEWAY_TELEGRAM_FILE_MAX,
        ...(config.TELEGRAM_PAIRING ? { pairing: { ttlMs: config.GATEWAY_PAIRING_TTL, maxPending: config.GATEWAY_PAIRING_MAX } } : {}),
      }
    : undefined;
  const { host, port } = listenAddress(env, flags);
  return {
    host,
    port,
    token,
    tokenSource: source,
    ...(fixed ? { tokenFileFixed: fixed } : {}),
    allowedHosts: config.GATEWAY_ALLOWED_HOSTS ?? [],
    allowedOrigins: config.GATEWAY_ALLOWED_ORIGINS ?? [],
    promptsPerClient: config.GATEWAY_PROMPTS_PER_CLIENT,
    promptsPerChannel: config.GATEWAY_PROMPTS_PER_CHANNEL,
    hookConcurrency: config.GATEWAY_HOOK_CONCURRENCY,
    resumeGraceMs: config.GATEWAY_WS_RESUME_GRACE,
    telegram,
    owner: ownerOf(config.GATEWAY_OWNER, telegram),
    hooks: config.GATEWAY_HOOKS ?? {},
    queueModes: Object.fromEntries(config.GATEWAY_QUEUE_MODES ?? []),
    turnTimeoutMs: config.GATEWAY_TURN_TIMEOUT,
    turnRetries: config.GATEWAY_TURN_RETRIES,
    turnRetryBackoffMs: config.GATEWAY_TURN_RETRY_BACKOFF,
    shutdownGraceMs: config.GATEWAY_SHUTDOWN_GRACE,
    agingMs: config.GATEWAY_AGING,
    collectWindowMs: config.GATEWAY_COLLECT_WINDOW,
    turnMaxEvents: config.GATEWAY_TURN_MAX_EVENTS,
    turnMaxBytes: config.GATEWAY_TURN_MAX_BYTES,
    turnShownEvents: config.GATEWAY_TURN_SHOWN_EVENTS,
    context: resolveContextSettings(env),
  };
}

/** GATEWAY_OWNER, else the first allowed Telegram id (a private chat's id is the user's id). */
function ownerOf(owner: string | undefined, telegram: TelegramSettings | undefined): ReplyAddress | undefined {
  if (owner) {
    const at = owner.indexOf(":");
    return { channel: owner.slice(0, at), to: owner.slice(at + 1) };
  }
  if (telegram && telegram.allowedChatIds.length + telegram.allowedUserIds.length > 0) {
    return { channel: "telegram", to: String(telegram.allowedChatIds[0] ?? telegram.allowedUserIds[0]) };
  }
  return undefined;
}

/**
 * The daemon claims DAEMON_BATCH_SIZE events at a time unless GATEWAY_BATCH_SIZE says otherwise
 * (undefined: the setting, checked with the other bus settings, applies). Each claim is four round
 * trips to Redis (claim, dedup check, store the command, acknowledge), each waiting for an fsync
 * with AOF always, and the daemon's CPU is mostly idle meanwhile: the round trips, not the work,
 * bound the drain. 50 at a time held the central to a few hundred events/s while producers pushed
 * 5,000/s; 500 to ~3,000–3,500 ev/s while they pushed (the bus queue hit its 10,000 cap and the
 * oldest were dead-lettered); 2,000 keeps the bus queue under 2,000 at 5,000 ev/s. A claim takes
 * what is there, so the size only matters when the queue is deep. The daemon's claims become
 * commands that are batched into turns again, so the size of one claim does not change what the
 * agent sees (a pi's claim is one message: it keeps the 50).
 */
export function daemonBatchSize(env: Record<string, string | undefined>): number | undefined {
  return env.GATEWAY_BATCH_SIZE?.trim() ? undefined : DAEMON_BATCH_SIZE;
}

export const DAEMON_BATCH_SIZE = 2000;

/**
 * Most bytes of events one daemon claim reads (claim-8.lua stops there; the rest waits for the next
 * claim): 2,000 events of up to GATEWAY_MAX_EVENT_BYTES (1 MiB) each would otherwise be 2 GiB in one
 * reply. 16 MiB is 2,000 events of 8 KiB; the load scenario's events are ~250 bytes.
 */
export const DAEMON_CLAIM_MAX_BYTES = 16 * 1024 * 1024;
