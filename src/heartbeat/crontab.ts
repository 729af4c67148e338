/**
 * The no-Node heartbeat: a crontab line that pushes `cron.heartbeat` with redis-cli, like the
 * original design's, fixed to actually work from a crontab:
 *
 * - cron turns every unescaped `%` into a newline, so the seed's `date +%s000` cut the command
 *   short; here every `%` is written as `\%` (cron hands the shell a plain `%`);
 * - the seed's `uuidgen` is missing on many systems (and macOS has no /proc for a fallback): the
 *   line sends no id at all, and the claim gives the entry one derived from its content, which is
 *   unique per beat since the timestamp differs;
 * - `-u <url>` when the Redis is not the local default.
 *
 * It LPUSHes to the legacy `main` queue (which the central session also drains) and so bypasses
 * the push script: no journal entry and no push dedup. `pi-gateway heartbeat --once` in the
 * crontab gets those too, at the price of needing Node.
 */
import { DEFAULT_PREFIX, LEGACY_SESSION, keySpace } from "../protocol/keys.js";
import { HEARTBEAT_EVENT_TYPE } from "../protocol/event.js";
import { singleQuote } from "../util/shell.js";

export interface CrontabOptions {
  /** Minutes between heartbeats; must divide an hour (or be 60) so the beats are evenly spaced. */
  intervalMinutes?: number;
  /** The redis-cli command, possibly with arguments (e.g. "redis-cli -p 6380"); inserted as is. */
  redisCli?: string;
  /** Passed as `-u <url>`; omit for redis-cli's default (127.0.0.1:6379). */
  redisUrl?: string;
  prefix?: string;
  source?: string;
}

/** Minute steps that give evenly spaced runs: cron's `*\/7` would fire at :56 and again at :00. */
export const CRONTAB_INTERVALS = [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60];

const SAFE_NAME = /^[A-Za-z0-9_.:-]+$/;

export function crontabSchedule(intervalMinutes = 15): string {
  if (!CRONTAB_INTERVALS.includes(intervalMinutes)) {
    throw new Error(
      `crontab heartbeat interval must be one of ${CRONTAB_INTERVALS.join(", ")} minutes (got ${intervalMinutes}): ` +
        "cron steps restart every hour, so other values give uneven gaps",
    );
  }
  if (intervalMinutes === 60) return "0 * * * *";
  return intervalMinutes === 1 ? "* * * * *" : `*/${intervalMinutes} * * * *`;
}

/** The shell command alone, as `sh -c` would run it (no crontab escaping). */
export function crontabCommand(options: CrontabOptions = {}): string {
  const { redisCli = "redis-cli", redisUrl, prefix = DEFAULT_PREFIX, source = "cron" } = options;
  if (!SAFE_NAME.test(prefix)) throw new Error(`prefix "${prefix}" must use letters, digits and _ . : - only`);
  if (!SAFE_NAME.test(source)) throw new Error(`source "${source}" must use letters, digits and _ . : - only`);
  if (!redisCli.trim()) throw new Error("redisCli must not be empty");
  const keys = keySpace(prefix);
  const cli = redisUrl ? `${redisCli} -u ${singleQuote(redisUrl)}` : redisCli;
  // The JSON sits in single quotes; the timestamp is spliced in from outside them.
  const event = `'{"type":"${HEARTBEAT_EVENT_TYPE}","source":"${source}","payload":{},"ts":'"$(date +%s000)"'}'`;
  const note = `'{"type":"${HEARTBEAT_EVENT_TYPE}"}'`;
  return [`${cli} LPUSH ${keys.events(LEGACY_SESSION)} ${event} >/dev/null`, `${cli} PUBLISH ${keys.notify(LEGACY_SESSION)} ${note} >/dev/null`].join(" && ");
}

/** A complete crontab line: schedule, then the command with `%` escaped for cron. */
export function crontabLine(options: CrontabOptions = {}): string {
  return `${crontabSchedule(options.intervalMinutes)} ${escapeCrontabPercent(crontabCommand(options))}`;
}

export function escapeCrontabPercent(command: string): string {
  return command.replace(/%/g, "\\%");
}
