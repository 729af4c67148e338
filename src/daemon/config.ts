/**
 * Daemon settings: environment first, flags override. Secrets (gateway token, Telegram token) come
 * from the environment or files, never from flags that would show up in `ps`.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { parseCount } from "../config/bus-options.js";
import { parseDuration } from "../config/duration.js";
import { DEFAULT_TURN_MAX_BYTES, DEFAULT_TURN_MAX_EVENTS } from "./command-queue.js";
import { CONTEXT_ENV_VARS, resolveContextSettings, type ContextSettings } from "./context-budget.js";
import type { ReplyAddress } from "./types.js";

type Env = Record<string, string | undefined>;

export interface TelegramSettings {
  token: string;
  apiRoot?: string;
  allowedUserIds: number[];
  allowedChatIds: number[];
}

export interface DaemonSettings {
  host: string;
  port: number;
  token: string;
  tokenSource: string;
  telegram?: TelegramSettings;
  owner?: ReplyAddress;
  hooks: Record<string, { secret?: string; token?: string; eventType?: string }>;
  queueModes: Record<string, "followUp" | "steer" | "collect">;
  turnTimeoutMs: number;
  turnRetries: number;
  turnRetryBackoffMs: number;
  shutdownGraceMs: number;
  agingMs: number;
  collectWindowMs: number;
  turnMaxEvents: number;
  turnMaxBytes: number;
  /** GATEWAY_CONTEXT_WINDOW, GATEWAY_COMPACT_AT: when the embedded pi's conversation is compacted. */
  context: ContextSettings;
}

export const DAEMON_ENV_VARS = [
  "GATEWAY_HOST",
  "GATEWAY_PORT",
  "GATEWAY_TOKEN",
  "GATEWAY_TOKEN_FILE",
  "GATEWAY_OWNER",
  "GATEWAY_HOOKS",
  "GATEWAY_QUEUE_MODES",
  "GATEWAY_TURN_TIMEOUT",
  "GATEWAY_TURN_RETRIES",
  "GATEWAY_TURN_RETRY_BACKOFF",
  "GATEWAY_SHUTDOWN_GRACE",
  "GATEWAY_AGING",
  "GATEWAY_TURN_MAX_EVENTS",
  "GATEWAY_TURN_MAX_BYTES",
  "GATEWAY_COLLECT_WINDOW",
  ...CONTEXT_ENV_VARS,
  "TELEGRAM_BOT_TOKEN",
  "TELEGRAM_ALLOWED_USERS",
  "TELEGRAM_ALLOWED_CHATS",
  "TELEGRAM_API_ROOT",
];

export function defaultTokenFile(home = homedir()): string {
  return join(home, ".config", "pi-gateway", "token");
}

/** Where the daemon keeps its token: $GATEWAY_TOKEN_FILE, else ~/.config/pi-gateway/token. */
export function tokenFile(env: Env, home = homedir()): string {
  return env.GATEWAY_TOKEN_FILE || defaultTokenFile(home);
}

/** The token in a token file; throws when the file is empty. */
export function readTokenFile(file: string): string {
  const token = readFileSync(file, "utf8").trim();
  if (!token) throw new Error(`the token file ${file} is empty`);
  return token;
}

/** The gateway token: $GATEWAY_TOKEN, else the token file (created with a strong random token, mode 600). */
export function resolveToken(env: Env, home = homedir()): { token: string; source: string } {
  if (env.GATEWAY_TOKEN) return { token: env.GATEWAY_TOKEN, source: "GATEWAY_TOKEN" };
  const file = tokenFile(env, home);
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, `${randomBytes(32).toString("base64url")}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
  }
  return { token: readTokenFile(file), source: file };
}

export const DEFAULT_LISTEN_HOST = "127.0.0.1";
export const DEFAULT_LISTEN_PORT = 8787;

/**
 * Where the daemon listens: the flag, else the environment, else loopback:8787. Empty means unset,
 * as everywhere (an empty GATEWAY_HOST once meant every interface here while the security audit
 * read it as loopback): the daemon and `security audit` both ask this function.
 */
export function listenAddress(env: Env, flags: { host?: string; port?: string } = {}): { host: string; port: number } {
  const host = (flags.host || env.GATEWAY_HOST || "").trim() || DEFAULT_LISTEN_HOST;
  const portText = (flags.port || env.GATEWAY_PORT || "").trim() || String(DEFAULT_LISTEN_PORT);
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) {
    throw new Error(`${flags.port ? "--port" : "GATEWAY_PORT"}: "${portText}" is not a port (a number from 1 to 65535, or 0 for any free one)`);
  }
  return { host, port };
}

export function resolveDaemonSettings(env: Env = process.env, flags: { host?: string; port?: string } = {}): DaemonSettings {
  const { token, source } = resolveToken(env);
  const ids = (name: string): number[] =>
    (env[name] ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean)
      .map((s) => {
        const n = Number(s);
        if (!Number.isInteger(n)) throw new Error(`${name}: "${s}" is not a numeric Telegram id`);
        return n;
      });
  const telegram = env.TELEGRAM_BOT_TOKEN
    ? { token: env.TELEGRAM_BOT_TOKEN, apiRoot: env.TELEGRAM_API_ROOT || undefined, allowedUserIds: ids("TELEGRAM_ALLOWED_USERS"), allowedChatIds: ids("TELEGRAM_ALLOWED_CHATS") }
    : undefined;
  let owner: ReplyAddress | undefined;
  if (env.GATEWAY_OWNER) {
    const match = /^([a-z]+):(.+)$/.exec(env.GATEWAY_OWNER);
    if (!match) throw new Error(`GATEWAY_OWNER must look like telegram:<chat id> (got "${env.GATEWAY_OWNER}")`);
    owner = { channel: match[1]!, to: match[2]! };
  } else if (telegram && telegram.allowedChatIds.length + telegram.allowedUserIds.length > 0) {
    // A private chat's id is the user's id: the first allowed id is the natural owner.
    owner = { channel: "telegram", to: String(telegram.allowedChatIds[0] ?? telegram.allowedUserIds[0]) };
  }
  let hooks: DaemonSettings["hooks"] = {};
  if (env.GATEWAY_HOOKS) {
    try {
      hooks = JSON.parse(env.GATEWAY_HOOKS) as DaemonSettings["hooks"];
    } catch (error) {
      throw new Error(`GATEWAY_HOOKS is not valid JSON: ${(error as Error).message}`);
    }
  }
  const queueModes: DaemonSettings["queueModes"] = {};
  for (const pair of (env.GATEWAY_QUEUE_MODES ?? "").split(",").map((p) => p.trim()).filter(Boolean)) {
    const [channel, mode] = pair.split("=").map((p) => p.trim());
    if (!channel || (mode !== "followUp" && mode !== "steer" && mode !== "collect")) {
      throw new Error(`GATEWAY_QUEUE_MODES: "${pair}" must look like telegram=collect (modes: followUp, steer, collect)`);
    }
    queueModes[channel] = mode;
  }
  const duration = (name: string, fallback: string) => parseDuration(env[name] || fallback);
  const turnRetries = Number(env.GATEWAY_TURN_RETRIES || "5");
  if (!Number.isInteger(turnRetries) || turnRetries < 0) throw new Error(`GATEWAY_TURN_RETRIES: "${env.GATEWAY_TURN_RETRIES}" is not a whole number (0 = never retry)`);
  // Empty means unset, as everywhere: the default.
  const count = (name: string, fallback: number) => {
    const value = env[name];
    if (!value) return fallback;
    try {
      return parseCount(value);
    } catch (error) {
      throw new Error(`${name}: ${(error as Error).message}`);
    }
  };
  const { host, port } = listenAddress(env, flags);
  return {
    host,
    port,
    token,
    tokenSource: source,
    telegram,
    owner,
    hooks,
    queueModes,
    turnTimeoutMs: duration("GATEWAY_TURN_TIMEOUT", "10m"),
    turnRetries,
    turnRetryBackoffMs: duration("GATEWAY_TURN_RETRY_BACKOFF", "2s"),
    shutdownGraceMs: duration("GATEWAY_SHUTDOWN_GRACE", "30s"),
    agingMs: duration("GATEWAY_AGING", "60s"),
    collectWindowMs: duration("GATEWAY_COLLECT_WINDOW", "2s"),
    turnMaxEvents: count("GATEWAY_TURN_MAX_EVENTS", DEFAULT_TURN_MAX_EVENTS),
    turnMaxBytes: count("GATEWAY_TURN_MAX_BYTES", DEFAULT_TURN_MAX_BYTES),
    context: resolveContextSettings(env),
  };
}
