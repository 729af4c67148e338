/**
 * Turning "every 15 minutes" or a cron pattern into a croner schedule, with clear errors.
 *
 * Intervals that divide a minute, an hour or a day become clock-aligned patterns (`0 *\/15 * * * *`
 * fires at :00, :15, :30, :45), exactly like the crontab line: restarting the heartbeat process
 * then never adds an extra beat, and a cron-driven and a process-driven heartbeat agree on the
 * times. Other intervals (90s, 7m, ...) use croner's `interval` option, first beat one interval
 * after the start.
 */
import { Cron, type CronOptions } from "croner";
import { formatDuration } from "../config/duration.js";

export interface HeartbeatSchedule {
  /** Six-field croner pattern (seconds first). */
  pattern: string;
  /** Extra croner options (interval/startAt for intervals that no pattern expresses). */
  options: Pick<CronOptions, "interval" | "startAt">;
  /** Human description, also sent in the heartbeat payload: "15m" or the cron pattern. */
  description: string;
}

/** Thrown for a schedule that cannot work; the message says why and what to use instead. */
export class HeartbeatScheduleError extends Error {
  override name = "HeartbeatScheduleError";
}

export function intervalSchedule(intervalMs: number, now = Date.now()): HeartbeatSchedule {
  if (!Number.isFinite(intervalMs) || intervalMs < 1_000 || intervalMs % 1_000 !== 0) {
    // croner fires on whole seconds (its `interval` option is parsed as an integer of seconds).
    throw new HeartbeatScheduleError(`heartbeat interval must be whole seconds, at least 1s (got ${describeMs(intervalMs)})`);
  }
  const description = formatDuration(intervalMs);
  const seconds = intervalMs / 1_000;
  const aligned = alignedPattern(seconds);
  if (aligned) return { pattern: aligned, options: {}, description };
  return {
    pattern: "* * * * * *",
    options: { interval: seconds, startAt: new Date(now + intervalMs) },
    description,
  };
}

/** A clock-aligned pattern for intervals that divide a minute, an hour or a day; else undefined. */
function alignedPattern(seconds: number): string | undefined {
  if (seconds < 60) return 60 % seconds === 0 ? `${step(seconds)} * * * * *` : undefined;
  if (seconds % 60 !== 0) return undefined;
  const minutes = seconds / 60;
  if (minutes < 60) return 60 % minutes === 0 ? `0 ${step(minutes)} * * * *` : undefined;
  if (minutes % 60 !== 0) return undefined;
  const hours = minutes / 60;
  if (hours < 24) return 24 % hours === 0 ? `0 0 ${step(hours)} * * *` : undefined;
  return hours === 24 ? "0 0 0 * * *" : undefined;
}

function step(n: number): string {
  return n === 1 ? "*" : `*/${n}`;
}

/** Validates a cron pattern (5 fields, or 6 with seconds first) and checks that it ever fires. */
export function cronSchedule(pattern: string): HeartbeatSchedule {
  const trimmed = pattern.trim();
  let probe: Cron;
  try {
    // croner 10+ also reads a seventh (year) field; a crontab line has five fields, so refuse it here.
    probe = new Cron(trimmed, { paused: true, mode: "5-or-6-parts" });
  } catch (error) {
    const reason = (error as Error).message.replace(/^CronPattern: /, "");
    throw new HeartbeatScheduleError(`invalid cron pattern "${pattern}": ${reason}`);
  }
  const next = probe.nextRun();
  probe.stop();
  if (!next) throw new HeartbeatScheduleError(`cron pattern "${pattern}" never fires`);
  return { pattern: trimmed, options: {}, description: trimmed };
}

function describeMs(ms: number): string {
  return Number.isFinite(ms) ? `${ms}ms` : String(ms);
}
