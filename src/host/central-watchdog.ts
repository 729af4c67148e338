/**
 * The central session's missed-heartbeat watchdog as both hosts run it: it counts from the last
 * heartbeat any host recorded in Redis (not from this process's start), takes a fresher threshold
 * from the shared Redis config (unless the environment sets one), and publishes its state on the
 * session's record while this instance owns the id (a displaced owner is on its way out).
 */
import type { GatewayBus } from "../bus/bus.js";
import { watchdogThresholdFromConfig } from "../config/session-options.js";
import { HeartbeatWatchdog } from "./watchdog.js";

export interface CentralWatchdogOptions {
  bus: GatewayBus;
  sessionId: string;
  thresholdMs: number;
  checkEveryMs: number;
  /** The last heartbeat recorded in Redis when the watchdog starts; null or undefined: none, count from now. */
  lastHeartbeat?: number | null;
  isOwner: () => boolean;
  onAlarm: (elapsedMs: number) => void;
}

export function centralWatchdog(options: CentralWatchdogOptions): HeartbeatWatchdog {
  const { bus, sessionId } = options;
  const watchdog: HeartbeatWatchdog = new HeartbeatWatchdog({
    thresholdMs: options.thresholdMs,
    checkEveryMs: options.checkEveryMs,
    lastHeartbeat: options.lastHeartbeat ?? undefined,
    onAlarm: options.onAlarm,
    refresh: async () => {
      const [config, last] = await Promise.all([bus.sharedConfig(), bus.lastHeartbeat()]);
      if (options.isOwner()) await bus.recordWatchdog(sessionId, watchdog.state, watchdog.thresholdMs);
      return { thresholdMs: watchdogThresholdFromConfig(config), lastHeartbeat: last };
    },
  });
  return watchdog;
}
