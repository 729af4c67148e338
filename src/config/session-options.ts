/**
 * How a pi session joins the gateway: its role, its id, how events are delivered to it and how
 * its heartbeat watchdog is tuned. Read from the environment (and, for the watchdog, the shared
 * Redis config hash), shared by the extension and the daemon.
 */
import { DEFAULT_CENTRAL_SESSION } from "../protocol/keys.js";
import { SessionIdSchema } from "../protocol/event.js";
import type { SessionRole } from "../protocol/keys.js";
import { defaultHeartbeatFile } from "./env-file.js";
import { durationMs } from "./duration.js";
import { resolveSettings, type Env } from "./resolve.js";
import { SETTINGS, settingNames } from "./schema.js";

export type DeliverAs = "followUp" | "steer";

export interface SessionOptions {
  /** With `autoRole`, provisional: "central" until the central id turns out to be held. */
  role: SessionRole;
  /**
   * No GATEWAY_ROLE (nor GATEWAY_ID): the session becomes central when no live instance holds the
   * central id once Redis answers, else a satellite (see satelliteOf).
   */
  autoRole: boolean;
  sessionId: string;
  /** GATEWAY_ID when set and valid (the daemon's session id, whatever GATEWAY_ROLE says). */
  explicitId: string | undefined;
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

export const DEFAULT_HEARTBEAT_INTERVAL_MS = SETTINGS.GATEWAY_HEARTBEAT_INTERVAL.defaultValue;

/** Environment variables read here, for help texts and docs. */
export const SESSION_ENV_VARS = settingNames("session");

/**
 * The session's options from the environment. A bad duration or GATEWAY_DELIVER_AS throws a
 * ConfigError (the extension shows it and stays off); GATEWAY_ROLE and GATEWAY_ID stay lenient, as
 * documented: a warning, and the role is decided at start.
 */
export function resolveSessionOptions(env: Env = process.env, pid = process.pid): SessionOptions {
  const warnings: string[] = [];
  const config = resolveSettings(env, [
    "GATEWAY_ROLE",
    "GATEWAY_ID",
    "GATEWAY_DELIVER_AS",
    "GATEWAY_ACCEPT_TIMEOUT",
    "GATEWAY_HEARTBEAT_INTERVAL",
    "GATEWAY_HEARTBEAT_FILE",
    "GATEWAY_WATCHDOG_THRESHOLD",
    "GATEWAY_WATCHDOG_CHECK",
  ]);
  let explicitId: string | undefined;
  if (config.GATEWAY_ID) {
    const parsed = SessionIdSchema.safeParse(config.GATEWAY_ID);
    if (parsed.success) explicitId = parsed.data;
    else warnings.push(`GATEWAY_ID="${config.GATEWAY_ID}" is not a valid session id (letters, digits, _ . : -); ignored`);
  }
  const { role, autoRole } = resolveRole(env.GATEWAY_ROLE, explicitId, warnings);
  const sessionId = explicitId ?? (role === "central" ? DEFAULT_CENTRAL_SESSION : `pid-${pid}`);
  const heartbeatIntervalMs = config.GATEWAY_HEARTBEAT_INTERVAL;
  const watchdogThresholdMs = config.GATEWAY_WATCHDOG_THRESHOLD ?? 2 * heartbeatIntervalMs;
  return {
    role,
    autoRole,
    sessionId,
    explicitId,
    durable: role === "central" || explicitId !== undefined,
    deliverAs: config.GATEWAY_DELIVER_AS,
    acceptTimeoutMs: config.GATEWAY_ACCEPT_TIMEOUT,
    heartbeatIntervalMs,
    heartbeatFile: config.GATEWAY_HEARTBEAT_FILE ?? defaultHeartbeatFile(env.HOME || undefined),
    watchdogThresholdMs,
    watchdogCheckMs: config.GATEWAY_WATCHDOG_CHECK ?? defaultWatchdogCheck(watchdogThresholdMs),
    warnings,
  };
}

/**
 * GATEWAY_ROLE: "central" / "satellite" as asked; unset, empty or unknown: decided at start
 * (central when the central id is free). A named session (GATEWAY_ID without a role) stays a
 * satellite, as it always was: naming a session is a deliberate choice, not a new user's default.
 */
function resolveRole(raw: string | undefined, explicitId: string | undefined, warnings: string[]): { role: SessionRole; autoRole: boolean } {
  const value = (raw ?? "").trim().toLowerCase();
  if (value === "central" || value === "satellite") return { role: value, autoRole: false };
  if (explicitId) {
    if (value) warnings.push(`GATEWAY_ROLE="${raw}" is not central or satellite; running as satellite ${explicitId}`);
    return { role: "satellite", autoRole: false };
  }
  if (value) warnings.push(`GATEWAY_ROLE="${raw}" is not central or satellite; deciding by itself (central if no live session holds the central id)`);
  return { role: "central", autoRole: true };
}

/** The satellite a session with an automatic role becomes when the central id is held. */
export function satelliteOf(session: SessionOptions, pid = process.pid): SessionOptions {
  return { ...session, role: "satellite", sessionId: `pid-${pid}`, durable: false };
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
  if (env.GATEWAY_WATCHDOG_THRESHOLD?.trim()) return undefined;
  // A bad field in Redis is ignored (the environment's or default threshold stays): it is shared by
  // every session, and one typo there must not stop them all.
  if (config.watchdogThreshold) return durationMs(config.watchdogThreshold) || undefined;
  if (config.heartbeatInterval && !env.GATEWAY_HEARTBEAT_INTERVAL?.trim()) {
    const interval = durationMs(config.heartbeatInterval);
    return interval ? 2 * interval : undefined;
  }
  return undefined;
}
