/**
 * The original design's verification checklist, run automatically. Each check says what it found
 * and, when it fails, the one thing to do about it.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { GatewayBus, serverKind, type SessionInfo } from "../bus/bus.js";
import { ClusterReplicasError, RedisUnreachableError } from "../bus/errors.js";
import type { BusOptions } from "../config/bus-options.js";
import { formatDuration } from "../config/duration.js";
import { createEvent } from "../protocol/event.js";
import type { SetupPaths } from "../setup/paths.js";
import { readPreviousSetup, type PreviousSetup } from "../setup/previous.js";
import { howToStartRedis } from "../setup/redis-check.js";
import type { Platform } from "../setup/service/types.js";
import { checkServiceInstalled, checkServiceRunning, runProbe, type CommandProbe } from "./service.js";

export type CheckStatus = "pass" | "warn" | "fail" | "skip";

export interface CheckResult {
  id: string;
  title: string;
  status: CheckStatus;
  detail: string;
  fix?: string;
}

export interface DoctorOptions {
  bus: BusOptions;
  paths: SetupPaths;
  platform: Platform;
  /**
   * Push a test event to the central session and wait for its delivery: the end-to-end check,
   * which costs the central session an LLM turn (so only with --deep).
   */
  deep: boolean;
  /** Runs the service manager's status commands (default: the real ones). */
  probe?: CommandProbe;
  waitMs: number;
  /** Default watchdog threshold when the central session does not publish its own. */
  thresholdMs: number;
}

export async function runChecks(options: DoctorOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const setup = readPreviousSetup(options.paths.envFile);
  const tier = setup.tier;
  const { bus, result } = await connectForChecks(options);
  results.push(result);

  results.push(checkExtensionInstalled(options.paths));

  if (!bus) {
    for (const [id, title] of [
      ["extension-loaded", "Extension loaded in a pi session"],
      ["central", "Central session present"],
      ["delivery", "Test event delivered"],
      ["heartbeat", "Heartbeat fresh"],
      ["watchdog", "Watchdog armed"],
    ] as const) {
      results.push({ id, title, status: "skip", detail: "needs Redis" });
    }
    results.push(...(await serviceChecks(options, setup)));
    return results;
  }

  try {
    const sessions = await bus.sessions();
    const live = sessions.filter((s) => s.live && (s.kind === "pi" || s.kind === "daemon"));
    results.push(
      live.length
        ? {
            id: "extension-loaded",
            title: "Extension loaded in a pi session",
            status: "pass",
            detail: `${live.length} live session(s): ${live.map((s) => `${s.id} (${s.kind})`).join(", ")}`,
          }
        : {
            id: "extension-loaded",
            title: "Extension loaded in a pi session",
            status: "fail",
            detail: "no live pi session is registered",
            fix: "start pi (GATEWAY_ROLE=central pi); if it runs, check that REDIS_URL matches and run /gateway in it",
          },
    );
    const central = sessions.find((s) => s.role === "central" && s.live);
    results.push(checkCentral(sessions, central));
    results.push(await checkDelivery(bus, central, options));
    const threshold = central?.watchdogThresholdMs ?? options.thresholdMs;
    results.push(await checkHeartbeat(bus, threshold, tier));
    results.push(checkWatchdog(central, tier));
  } finally {
    await bus.close();
  }
  results.push(...(await serviceChecks(options, setup)));
  return results;
}

/** The Redis check, and the bus the later checks use when Redis answered. */
async function connectForChecks(options: DoctorOptions): Promise<{ bus?: GatewayBus; result: CheckResult }> {
  let bus: GatewayBus | undefined;
  try {
    bus = await GatewayBus.connect({ ...options.bus, name: "pi-gateway:doctor", connectTimeoutMs: Math.min(options.bus.connectTimeoutMs, 3_000) });
    return { bus, result: { id: "redis", title: "Redis reachable", status: "pass", detail: `${await redisSummary(bus)}` } };
  } catch (error) {
    await bus?.close().catch(() => undefined);
    // The shared classification says why (refused, no answer, password, TLS) and what to do.
    const known = error instanceof RedisUnreachableError;
    // Redis answered, but the cluster can never acknowledge a write: starting Redis is not the fix.
    const fix =
      error instanceof ClusterReplicasError || (known && error.failure !== "refused")
        ? error.hint
        : `start Redis (${howToStartRedis(options.platform)[0]}) or point REDIS_URL at it`;
    return {
      result: {
        id: "redis",
        title: "Redis reachable",
        status: "fail",
        detail: known || error instanceof ClusterReplicasError ? error.summary : (error as Error).message,
        fix,
      },
    };
  }
}

async function redisSummary(bus: GatewayBus): Promise<string> {
  const status = await bus.status();
  const durability = status.redis.aof ? `AOF on, appendfsync ${status.redis.appendfsync}` : "AOF off: a Redis crash can lose queued events";
  return `${serverKind(status.redis)} ${status.redis.version} (${durability})`;
}

function checkExtensionInstalled(paths: SetupPaths): CheckResult {
  const title = "Extension installed";
  const base = { id: "extension-installed", title };
  const sources: string[] = [];
  if (existsSync(paths.piSettings)) {
    try {
      const settings = JSON.parse(readFileSync(paths.piSettings, "utf8")) as { packages?: unknown[]; extensions?: unknown[] };
      for (const entry of [...(settings.packages ?? []), ...(settings.extensions ?? [])]) {
        const source = typeof entry === "string" ? entry : ((entry as { source?: string })?.source ?? "");
        if (isGatewayPackage(source)) sources.push(`${paths.piSettings}: ${source}`);
      }
    } catch (error) {
      return {
        ...base,
        status: "fail",
        detail: `${paths.piSettings} is not valid JSON: ${(error as Error).message}`,
        fix: "fix the JSON, then run pi-gateway setup",
      };
    }
  }
  const extensionsDir = join(paths.piAgentDir, "extensions");
  if (existsSync(extensionsDir)) {
    for (const name of readdirSync(extensionsDir)) if (name.includes("gateway")) sources.push(join(extensionsDir, name));
  }
  return sources.length
    ? { ...base, status: "pass", detail: sources.join("; ") }
    : {
        ...base,
        status: "fail",
        detail: `not in ${paths.piSettings} and not in ${extensionsDir}`,
        fix: "pi-gateway setup (or: pi install <path to pi-gateway>)",
      };
}

function isGatewayPackage(source: string): boolean {
  if (source === "npm:pi-gateway" || source.startsWith("npm:pi-gateway@")) return true;
  const manifest = join(source, "package.json");
  try {
    return (JSON.parse(readFileSync(manifest, "utf8")) as { name?: string }).name === "pi-gateway";
  } catch {
    return /pi-gateway/.test(source);
  }
}

function checkCentral(sessions: SessionInfo[], central: SessionInfo | undefined): CheckResult {
  const base = { id: "central", title: "Central session present" };
  if (central) return { ...base, status: "pass", detail: `${central.id} (pid ${central.pid ?? "?"} on ${central.host ?? "?"}), ${central.pending} pending` };
  const offline = sessions.find((s) => s.role === "central");
  return {
    ...base,
    status: "fail",
    detail: offline ? `central session ${offline.id} is registered but offline (${offline.pending} events waiting for it)` : "no central session is registered",
    fix: "start the always-on session: GATEWAY_ROLE=central pi (or its service: see pi-gateway setup)",
  };
}

async function checkDelivery(bus: GatewayBus, central: SessionInfo | undefined, options: DoctorOptions): Promise<CheckResult> {
  const base = { id: "delivery", title: "Test event delivered" };
  if (!options.deep)
    return { ...base, status: "skip", detail: "not run by default: it costs the central session an LLM turn (pi-gateway doctor --deep runs it)" };
  if (!central) return { ...base, status: "skip", detail: "no live central session to deliver to" };
  const event = createEvent("gateway.doctor", "pi-gateway doctor", { note: "delivery check by pi-gateway doctor; no action needed" }, { target: central.id });
  const started = Date.now();
  await bus.push(event);
  const deadline = started + options.waitMs;
  while (Date.now() < deadline) {
    const entries = await bus.journal(200);
    if (entries.some((e) => e.kind === "delivered" && e.id === event.id && e.sessions.includes(central.id))) {
      return { ...base, status: "pass", detail: `event ${event.id} delivered to ${central.id} in ${Date.now() - started}ms` };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    ...base,
    status: "fail",
    detail: `event ${event.id} pushed to ${central.id} but not delivered within ${formatDuration(options.waitMs)}`,
    fix: "run /gateway in the central session; set GATEWAY_LOG_FILE to see why it does not drain",
  };
}

async function checkHeartbeat(bus: GatewayBus, thresholdMs: number, tier: number | undefined): Promise<CheckResult> {
  const base = { id: "heartbeat", title: "Heartbeat fresh" };
  if (tier === 1) return { ...base, status: "skip", detail: "tier 1 (notifications only) has no heartbeat" };
  const last = await bus.lastHeartbeat();
  if (last === null) {
    return {
      ...base,
      status: "fail",
      detail: "no heartbeat has ever been delivered",
      fix: "start a heartbeat source: pi-gateway heartbeat (or the service / crontab line from pi-gateway setup)",
    };
  }
  const age = Date.now() - last;
  if (age > thresholdMs) {
    return {
      ...base,
      status: "fail",
      detail: `last heartbeat ${formatDuration(age)} ago, over the ${formatDuration(thresholdMs)} threshold`,
      fix: "the heartbeat source stopped: check its service log, or run pi-gateway heartbeat --once",
    };
  }
  return { ...base, status: "pass", detail: `last heartbeat ${formatDuration(age)} ago (threshold ${formatDuration(thresholdMs)})` };
}

function checkWatchdog(central: SessionInfo | undefined, tier: number | undefined): CheckResult {
  const base = { id: "watchdog", title: "Watchdog armed" };
  if (tier === 1) return { ...base, status: "skip", detail: "tier 1 (notifications only) has no watchdog" };
  if (!central) return { ...base, status: "fail", detail: "the watchdog runs in the central session, and none is live", fix: "start GATEWAY_ROLE=central pi" };
  if (central.watchdog === "armed") return { ...base, status: "pass", detail: `armed (threshold ${formatDuration(central.watchdogThresholdMs ?? 0)})` };
  if (central.watchdog === "alarm")
    return {
      ...base,
      status: "fail",
      detail: "in alarm: a heartbeat was missed",
      fix: "restore the heartbeat source; the watchdog re-arms on the next heartbeat",
    };
  return {
    ...base,
    status: "fail",
    detail: "the central session has not reported a watchdog state yet",
    fix: "wait a minute, or restart the central session with the current pi-gateway",
  };
}

/** Installed and running, for the service manager setup used (launchd on macOS, systemd on Linux when unknown). */
async function serviceChecks(options: DoctorOptions, setup: PreviousSetup): Promise<CheckResult[]> {
  if (setup.tier === 1) {
    const detail = "tier 1 (notifications only) needs no service";
    return [
      { id: "service", title: "Always-on service installed", status: "skip", detail },
      { id: "service-running", title: "Always-on service running", status: "skip", detail },
    ];
  }
  const manager = setup.service ?? (options.platform === "darwin" ? "launchd" : "systemd");
  return [checkServiceInstalled(manager, options.paths), await checkServiceRunning(manager, options.paths, options.probe ?? runProbe)];
}
