/**
 * `pi-gateway heartbeat`: push `cron.heartbeat` events in the foreground on a schedule, push one
 * (`--once`, for a crontab or a test), or print the redis-cli crontab line (`--print-crontab`).
 */
import type { Command } from "commander";
import { GatewayBus } from "../bus/bus.js";
import { parseSetting } from "../config/resolve.js";
import { action, busOverrides, globalOptions, print, printJson, usage, UsageError, withBus, type GlobalOptions } from "../cli/context.js";
import { createEvent, HEARTBEAT_EVENT_TYPE } from "../protocol/event.js";
import { crontabLine } from "./crontab.js";
import { DEFAULT_HEARTBEAT_SOURCE, heartbeatPayload, resolveHeartbeatSchedule, startHeartbeatScheduler, type HeartbeatBeat } from "./scheduler.js";

interface HeartbeatFlags {
  interval?: string;
  cron?: string;
  source: string;
  once?: boolean;
  printCrontab?: boolean;
  redisCli: string;
}

/** How long shutdown waits for a beat stuck on an unreachable Redis before giving up on it. */
const SHUTDOWN_GRACE_MS = 2_000;

export function registerHeartbeat(program: Command): void {
  program
    .command("heartbeat")
    .description("push cron.heartbeat events on a schedule (foreground, until Ctrl-C), once, or print a crontab line")
    .option("-i, --interval <duration>", "time between heartbeats, e.g. 30s, 15m, 1h (default: $GATEWAY_HEARTBEAT_INTERVAL or 15m)")
    .option("--cron <pattern>", "cron pattern instead of an interval: 5 fields, or 6 with seconds first")
    .option("-s, --source <name>", "event source", DEFAULT_HEARTBEAT_SOURCE)
    .option("--once", "push one heartbeat now and exit")
    .option("--print-crontab", "print a crontab line doing the same with redis-cli (no Node needed) and exit")
    .option("--redis-cli <command>", "redis-cli command used by --print-crontab", "redis-cli")
    .addHelpText(
      "after",
      `
Heartbeats go to the central session(s), or to the legacy "main" queue when none is registered.

Examples:
  pi-gateway heartbeat                      # every 15m, at :00 :15 :30 :45
  pi-gateway heartbeat --interval 30s --json
  pi-gateway heartbeat --cron '0 9-18 * * 1-5'
  pi-gateway heartbeat --once
  pi-gateway heartbeat --print-crontab >> my-crontab`,
    )
    .action(
      action(async (flags: HeartbeatFlags, command: Command) => {
        const options = globalOptions(command);
        if (flags.once && flags.printCrontab) throw new UsageError("--once and --print-crontab do not go together");
        if (flags.printCrontab) return printCrontab(flags, options);
        const intervalMs = resolveInterval(flags);
        // Validate the schedule before touching Redis, so a typo fails as a usage error.
        const schedule = usage(() => resolveHeartbeatSchedule({ intervalMs, cron: flags.cron }));
        if (flags.once) return pushOnce(flags.source, schedule.description, options);
        return runForeground(flags.source, { intervalMs, cron: flags.cron }, options);
      }),
    );
}

/** --interval, else $GATEWAY_HEARTBEAT_INTERVAL, else the scheduler's default; undefined with --cron. */
function resolveInterval(flags: HeartbeatFlags): number | undefined {
  if (flags.cron !== undefined) {
    if (flags.interval !== undefined) throw new UsageError("give either --interval or --cron, not both");
    return undefined;
  }
  if (flags.interval !== undefined) return parseSetting("GATEWAY_HEARTBEAT_INTERVAL", flags.interval, "--interval");
  // Unset: undefined, so the scheduler keeps its default and aligned slots.
  return process.env.GATEWAY_HEARTBEAT_INTERVAL?.trim() ? parseSetting("GATEWAY_HEARTBEAT_INTERVAL", process.env.GATEWAY_HEARTBEAT_INTERVAL) : undefined;
}

function printCrontab(flags: HeartbeatFlags, options: GlobalOptions): void {
  if (flags.cron !== undefined) throw new UsageError("--print-crontab takes --interval (whole minutes), not --cron");
  const intervalMs = resolveInterval(flags);
  const intervalMinutes = intervalMs === undefined ? undefined : intervalMs / 60_000;
  // The URL goes into the line: cron does not see the REDIS_URL of the shell that ran this.
  const redisUrl = busOverrides(options).redisUrl ?? parseSetting("REDIS_URL", process.env.REDIS_URL);
  const line = usage(() =>
    crontabLine({
      intervalMinutes,
      redisCli: flags.redisCli,
      redisUrl,
      prefix: busOverrides(options).prefix ?? parseSetting("GATEWAY_PREFIX", process.env.GATEWAY_PREFIX),
    }),
  );
  if (options.json) printJson({ line });
  else print(line);
}

async function pushOnce(source: string, description: string, options: GlobalOptions): Promise<void> {
  const event = createEvent(HEARTBEAT_EVENT_TYPE, source, heartbeatPayload(description));
  const result = await withBus(options, (bus) => bus.pushWithRetry(event));
  if (options.json) {
    printJson({ status: result.status, id: event.id, type: event.type, source, sessions: result.sessions, attempts: result.attempts });
  } else {
    print(`heartbeat ${event.id} -> ${result.sessions.join(", ")}`);
  }
}

async function runForeground(source: string, when: { intervalMs?: number; cron?: string }, options: GlobalOptions): Promise<void> {
  // Persistent: while Redis is down, commands wait for it to come back instead of failing, so an
  // outage delays a beat (the next ones are skipped meanwhile) rather than ending the process.
  const bus = await GatewayBus.connect({ name: "pi-gateway:heartbeat", ...busOverrides(options), persistent: true });
  const json = Boolean(options.json);
  const now = () => new Date().toISOString();
  const scheduler = startHeartbeatScheduler({
    bus,
    ...when,
    source,
    onBeat: (beat: HeartbeatBeat) => {
      const { result } = beat;
      if (json) {
        print(
          JSON.stringify({
            kind: "beat",
            at: beat.at,
            n: beat.n,
            id: result.event.id,
            status: result.status,
            sessions: result.sessions,
            attempts: result.attempts,
          }),
        );
      } else {
        print(`${now()} heartbeat #${beat.n} ${result.event.id} -> ${result.sessions.join(", ")}`);
      }
    },
    onError: (error) => {
      if (json) print(JSON.stringify({ kind: "error", at: Date.now(), error: error.message }));
      else process.stderr.write(`${now()} heartbeat failed: ${error.message}\n`);
    },
  });
  const next = scheduler.nextRun()?.toISOString() ?? null;
  if (json) print(JSON.stringify({ kind: "started", at: Date.now(), schedule: scheduler.schedule.description, source, next }));
  else print(`heartbeat ${describe(when, scheduler.schedule.description)} as ${source}, next at ${next}; Ctrl-C to stop`);

  await untilSignal();
  const finished = await within(scheduler.stop(), SHUTDOWN_GRACE_MS);
  // QUIT would wait for a Redis that is down; only say goodbye to one that is there.
  if (bus.isReady) await within(bus.close(), SHUTDOWN_GRACE_MS);
  bus.disconnect();
  const abandoned = finished ? 0 : 1;
  if (json) print(JSON.stringify({ kind: "stopped", at: Date.now(), beats: scheduler.beats, abandoned }));
  else print(`stopped after ${scheduler.beats} heartbeat${scheduler.beats === 1 ? "" : "s"}${abandoned ? " (one still waiting for Redis was abandoned)" : ""}`);
  if (!finished) {
    // The abandoned push keeps retrying (and the process alive) until its retry window ends.
    await new Promise((resolve) => process.stdout.write("", resolve));
    process.exit(0);
  }
}

function describe(when: { cron?: string }, description: string): string {
  return when.cron !== undefined ? `on cron "${description}"` : `every ${description}`;
}

function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      resolve(signal);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}

/** Waits for `promise`, but no longer than `ms`; true when it settled in time. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = promise.then(
    () => true,
    () => true,
  );
  try {
    return await Promise.race([settled, new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
