/**
 * In-process heartbeat: pushes a `cron.heartbeat` event on a schedule through GatewayBus, so the
 * push script's fan-out (central sessions, else `main`) and dedup apply as for any producer.
 *
 * The scheduler never records the heartbeat time itself: the central session does that when a
 * heartbeat reaches it, so the missed-heartbeat watchdog also catches a broken delivery path.
 */
import { hostname } from "node:os";
import { Cron } from "croner";
import type { GatewayBus, PushResult } from "../bus/bus.js";
import { DEFAULT_HEARTBEAT_INTERVAL_MS } from "../config/session-options.js";
import { createEvent, HEARTBEAT_EVENT_TYPE } from "../protocol/event.js";
import { silentLogger, type Logger } from "../util/logger.js";
import { cronSchedule, HeartbeatScheduleError, intervalSchedule, type HeartbeatSchedule } from "./schedule.js";

export const DEFAULT_HEARTBEAT_SOURCE = "pi-gateway";

/** What every heartbeat source puts in the payload: who sent it and how often to expect it. */
export interface HeartbeatPayload {
  /** "15m" for an interval, the pattern for a cron schedule. */
  interval: string;
  host: string;
  pid: number;
}

export interface HeartbeatBeat {
  /** 1 for the first beat of this scheduler. */
  n: number;
  at: number;
  result: PushResult;
}

export interface HeartbeatSchedulerOptions {
  /** Only pushWithRetry is used, so a test can pass a stand-in. */
  bus: Pick<GatewayBus, "pushWithRetry">;
  /** Time between beats (whole seconds); default 15 minutes. Exclusive with `cron`. */
  intervalMs?: number;
  /** Cron pattern, 5 fields or 6 with seconds first. Exclusive with `intervalMs`. */
  cron?: string;
  source?: string;
  onBeat?: (beat: HeartbeatBeat) => void;
  /** Failed beats (Redis gone for longer than the push retry window, ...); the schedule goes on. */
  onError?: (error: Error) => void;
  logger?: Logger;
}

export interface HeartbeatScheduler {
  /** Stops scheduling; resolves once a beat in progress (if any) has finished. */
  stop(): Promise<void>;
  nextRun(): Date | null;
  /** Beats pushed successfully so far. */
  readonly beats: number;
  readonly schedule: HeartbeatSchedule;
}

export function heartbeatPayload(description: string): HeartbeatPayload {
  return { interval: description, host: hostname(), pid: process.pid };
}

export function resolveHeartbeatSchedule(options: { intervalMs?: number; cron?: string }): HeartbeatSchedule {
  if (options.cron !== undefined && options.intervalMs !== undefined) {
    throw new HeartbeatScheduleError("give either an interval or a cron pattern, not both");
  }
  return options.cron !== undefined ? cronSchedule(options.cron) : intervalSchedule(options.intervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS);
}

export function startHeartbeatScheduler(options: HeartbeatSchedulerOptions): HeartbeatScheduler {
  const schedule = resolveHeartbeatSchedule(options);
  const { bus, source = DEFAULT_HEARTBEAT_SOURCE, logger = silentLogger } = options;
  let beats = 0;
  let inFlight: Promise<void> | undefined;

  const report = (error: unknown) => {
    const err = error instanceof Error ? error : new Error(String(error));
    logger.error({ err, source }, "heartbeat failed");
    try {
      options.onError?.(err);
    } catch (callbackError) {
      // A throwing callback must not turn into an unhandled rejection that kills the process.
      logger.error({ err: callbackError }, "heartbeat onError callback threw");
    }
  };

  const beat = async () => {
    try {
      const event = createEvent(HEARTBEAT_EVENT_TYPE, source, heartbeatPayload(schedule.description));
      const result = await bus.pushWithRetry(event);
      beats++;
      logger.debug({ id: event.id, sessions: result.sessions, status: result.status }, "heartbeat pushed");
      options.onBeat?.({ n: beats, at: Date.now(), result });
    } catch (error) {
      report(error);
    }
  };

  const job = new Cron(schedule.pattern, {
    ...schedule.options,
    // A beat still waiting for Redis must not be joined by the next one: skip it instead.
    protect: () => logger.warn({ source }, "previous heartbeat still in progress; skipping this one"),
    // Last line of defence; beat() already catches everything.
    catch: (error) => report(error),
  });
  job.schedule(() => {
    inFlight = beat().finally(() => (inFlight = undefined));
    return inFlight;
  });

  return {
    async stop() {
      job.stop();
      await inFlight;
    },
    nextRun: () => job.nextRun(),
    get beats() {
      return beats;
    },
    schedule,
  };
}
