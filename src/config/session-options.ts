/**
 * How a pi session joins the gateway: its role, its id, how events are delivered to it and how
 * its heartbeat watchdog is tuned. Read from the environment (and, for the watchdog, the shared
 * Redis config hash), shared by the extension and the daemon.
 */
import { DEFAULT_CENTRAL_SESSION } from "../protocol/keys.js";
import { SessionIdSchema } from "../protocol/event.js";
import type { SessionRole } from "../bus/bus.js";
import { defaultHeartbeatFile } from "../agent/heartbeat.js";
import { parseDuration } from "./duration.js";

type Env = Record<string, string | undefined>;

export type DeliverAs = "followUp" | "steer";

export interface SessionOptions {
  role: SessionRole;
  sessionId: string;
  /** Stable ids keep their queue while the session is down; pid-based ones don't. */
  durable: boolean;
  deliverAs: DeliverAs;
  /** How long pi may stay idle without recording a message it was sent before the batch is handed back. */
  acceptTimeoutMs: number;
  heartbeatIntervalMs: number;
  /** The checklist the agent is asked to read on each heartbeat. */
  heartbeatFile: string;
  watchdogThresholdMs: number;
  watchdogCheckMs: number;
  /** Warnings about ignored settings, to show the user. */
  warnings: string[];
}

export const DEFAULT_HEARTBEAT_INTERVAL_MS = 15 * 60_000;

/** Environment variables read here, for help texts and docs. */
export const SESSION_ENV_VARS = [
  "GATEWAY_ROLE",
  "GATEWAY_ID",
  "GATEWAY_DELIVER_AS",
  "GATEWAY_ACCEPT_TIMEOUT",
  "GATEWAY_HEARTBEAT_INTERVAL",
  "GATEWAY_HEARTBEAT_FILE",
  "GATEWAY_WATCHDOG_THRESHOLD",
  "GATEWAY_WATCHDOG_CHECK",
];

export function resolveSessionOptions(env: Env = process.env, pid = process.pid): SessionOptions {
  const warnings: string[] = [];
  const role: SessionRole = (() => {
    const value = (env.GATEWAY_ROLE ?? "").trim().toLowerCase();
    if (value === "central" || value === "satellite") return value;
    if (value) warnings.push(`GATEWAY_ROLE="${env.GATEWAY_ROLE}" is not central or satellite; running as satellite`);
    return "satellite";
  })();

  let explicitId: string | undefined;
  if (env.GATEWAY_ID) {
    const parsed = SessionIdSchema.safeParse(env.GATEWAY_ID);
    if (parsed.success) explicitId = parsed.data;
    else warnings.push(`GATEWAY_ID="${env.GATEWAY_ID}" is not a valid session id (letters, digits, _ . : -); ignored`);
  }
  const sessionId = explicitId ?? (role === "central" ? DEFAULT_CENTRAL_SESSION : `pid-${pid}`);

  const deliverAs: DeliverAs = (() => {
    const value = (env.GATEWAY_DELIVER_AS ?? "followUp").trim();
    if (value === "followUp" || value === "steer") return value;
    warnings.push(`GATEWAY_DELIVER_AS="${value}" is not followUp or steer; using followUp`);
    return "followUp";
  })();

  const duration = (name: string, fallback: number): number => {
    const value = env[name];
    if (!value) return fallback;
    try {
      const ms = parseDuration(value);
      if (ms > 0) return ms;
      warnings.push(`${name} must be more than 0; using the default`);
    } catch (error) {
      warnings.push(`${name}: ${(error as Error).message}; using the default`);
    }
    return fallback;
  };

  const heartbeatIntervalMs = duration("GATEWAY_HEARTBEAT_INTERVAL", DEFAULT_HEARTBEAT_INTERVAL_MS);
  const watchdogThresholdMs = duration("GATEWAY_WATCHDOG_THRESHOLD", 2 * heartbeatIntervalMs);
  const watchdogCheckMs = duration("GATEWAY_WATCHDOG_CHECK", defaultWatchdogCheck(watchdogThresholdMs));
  return {
    role,
    sessionId,
    durable: role === "central" || explicitId !== undefined,
    deliverAs,
    acceptTimeoutMs: duration("GATEWAY_ACCEPT_TIMEOUT", 2_000),
    heartbeatIntervalMs,
    heartbeatFile: env.GATEWAY_HEARTBEAT_FILE || defaultHeartbeatFile(env.HOME || undefined),
    watchdogThresholdMs,
    watchdogCheckMs,
    warnings,
  };
}

/** Check often enough that an alarm comes at most a tenth of the threshold late, at most once a minute. */
export function defaultWatchdogCheck(thresholdMs: number): number {
  return Math.max(100, Math.min(60_000, Math.floor(thresholdMs / 10)));
}

/**
 * Watchdog settings stored in Redis (hash `<prefix>:gateway:config`, fields `watchdogThreshold` and
 * `heartbeatInterval`, as durations) apply to every session unless its environment sets them.
 */
export function watchdogThresholdFromConfig(config: Record<string, string>, env: Env = process.env): number | undefined {
  if (env.GATEWAY_WATCHDOG_THRESHOLD) return undefined;
  try {
    if (config.watchdogThreshold) return parseDuration(config.watchdogThreshold);
    if (config.heartbeatInterval && !env.GATEWAY_HEARTBEAT_INTERVAL) return 2 * parseDuration(config.heartbeatInterval);
  } catch {
    return undefined;
  }
  return undefined;
}
