/**
 * Missed-heartbeat watchdog: fires once when no heartbeat was seen for `thresholdMs`, and re-arms
 * when the next heartbeat arrives. Pure timing logic (the host decides what an alarm does), so it
 * serves the extension and the daemon alike.
 */
import { formatDuration } from "../config/duration.js";

/** The message the agent gets when the watchdog fires (the extension and the daemon alike). */
export function missedHeartbeatMessage(elapsedMs: number, thresholdMs: number): string {
  return [
    "## ⚠️ MISSED HEARTBEAT",
    "",
    `No heartbeat for ${formatDuration(elapsedMs)} (threshold ${formatDuration(thresholdMs)}).`,
    "The heartbeat source (Inngest function, cron line or `pi-gateway heartbeat`) may be down. Check it with `pi-gateway status`, and report what you find.",
  ].join("\n");
}

export type WatchdogState = "armed" | "alarm" | "stopped";

export interface WatchdogOptions {
  thresholdMs: number;
  /** How often the elapsed time is checked. */
  checkEveryMs: number;
  /** Time of the last heartbeat known at start (e.g. from Redis); defaults to now. */
  lastHeartbeat?: number;
  onAlarm: (elapsedMs: number) => void;
  /** Optional source of fresher settings (Redis config), consulted at every check. */
  refresh?: () => Promise<Partial<Pick<WatchdogOptions, "thresholdMs">> & { lastHeartbeat?: number | null }>;
  now?: () => number;
}

export class HeartbeatWatchdog {
  state: WatchdogState = "armed";
  lastHeartbeat: number;
  thresholdMs: number;
  alarms = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly options: WatchdogOptions) {
    this.now = options.now ?? Date.now;
    this.lastHeartbeat = options.lastHeartbeat ?? this.now();
    this.thresholdMs = options.thresholdMs;
  }

  start(): void {
    this.stop();
    this.state = "armed";
    this.timer = setInterval(() => void this.check(), this.options.checkEveryMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.state = "stopped";
  }

  /** A heartbeat arrived: remember it and re-arm. */
  beat(at = this.now()): void {
    this.lastHeartbeat = Math.max(this.lastHeartbeat, at);
    if (this.state === "alarm") this.state = "armed";
  }

  async check(): Promise<void> {
    if (this.state === "stopped") return;
    if (this.options.refresh) {
      try {
        const fresh = await this.options.refresh();
        if (fresh.thresholdMs) this.thresholdMs = fresh.thresholdMs;
        if (fresh.lastHeartbeat && fresh.lastHeartbeat > this.lastHeartbeat) this.beat(fresh.lastHeartbeat);
      } catch {
        // Redis unreachable: judge with what we know.
      }
    }
    if (this.state !== "armed") return;
    const elapsed = this.now() - this.lastHeartbeat;
    if (elapsed > this.thresholdMs) {
      this.state = "alarm";
      this.alarms += 1;
      this.options.onAlarm(elapsed);
    }
  }
}
