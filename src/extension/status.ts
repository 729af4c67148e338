/**
 * What the extension shows about the gateway: the one-line status bar and the /gateway report.
 * Pure text from a snapshot of the runtime, so the wording lives in one place.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { GatewayBus, LeaseHolder } from "../bus/bus.js";
import { redactUrl } from "../bus/connection.js";
import { describeHolder } from "../bus/lease.js";
import { formatDuration } from "../config/duration.js";
import type { SessionOptions } from "../config/session-options.js";
import type { GatewayHost } from "../host/gateway-host.js";

/** The runtime as the status texts see it. */
export interface StatusSnapshot {
  session: SessionOptions;
  /** False while an automatic role waits for Redis. */
  decided: boolean;
  /** Created once the role is known. */
  host: GatewayHost | undefined;
  /** Who holds the central id, as a satellite sees it. */
  central: LeaseHolder | undefined;
  /** Why there is no bus yet: the last failed attempt to reach Redis (it is tried again). */
  waitingFor: string | undefined;
  /** The last failure worth showing (start, drain). */
  lastError: string | undefined;
}

/** The status bar always names the role, or says why the session does not drain. */
export function statusText({ session, decided, host, central, waitingFor, lastError }: StatusSnapshot): string {
  if (!host && lastError) return "⛔ gateway not started (/gateway says why)";
  const consumer = host?.consumer;
  const state = consumer?.state ?? "connecting";
  const role = decided ? "" : "; role decided once Redis answers";
  if (!host && waitingFor) return `⏳ gateway waiting for Redis (retrying${role}; /gateway says why)`;
  if (state === "connecting") return decided ? "⏳ gateway connecting" : "⏳ gateway connecting (role decided once Redis answers)";
  if (state === "reconnecting") return "⏳ gateway reconnecting";
  if (state === "disconnected") return "⚠️ gateway disconnected";
  if (consumer && !consumer.owner && consumer.holder) return `⛔ ${session.sessionId} held by ${describeHolder(consumer.holder)}`;
  if (session.role === "central") return "🔗 central";
  return `🔗 satellite · ${centralText(central)}`;
}

export function roleLine({ session, decided, central }: StatusSnapshot): string {
  if (!decided) return "not decided yet: waiting for Redis (central if no live session holds the central id, else satellite)";
  const how = session.autoRole ? " (automatic: no GATEWAY_ROLE)" : "";
  if (session.role === "central") return `central${how}`;
  return `satellite${how} · ${centralText(central)}`;
}

export function ownerLine({ host }: StatusSnapshot): string {
  const consumer = host?.consumer;
  if (!consumer) return "not yet";
  if (consumer.owner) return "this session (it drains the session's queues)";
  if (consumer.holder) return `⛔ held by ${describeHolder(consumer.holder)}: this session drains nothing until that one stops`;
  return "not yet (waiting for Redis)";
}

/** The heartbeat line of /gateway; `lastBeat`: the bus's record, as `pi-gateway status` shows it. */
export function heartbeatLine({ session, host }: StatusSnapshot, lastBeat: number | null | "unknown"): string {
  const beatText = lastBeat === "unknown" ? "unknown (Redis not answering)" : lastBeat === null ? "never" : new Date(lastBeat).toISOString();
  if (session.role !== "central") return `last heartbeat: ${beatText}; watchdog: off (satellite sessions do not receive heartbeats)`;
  const wd = host?.watchdog;
  if (!wd) return `last heartbeat: ${beatText}; watchdog: not started yet (waiting for Redis)`;
  return `last heartbeat: ${beatText}; watchdog: ${wd.state} (threshold ${formatDuration(wd.thresholdMs)}, alarms ${wd.alarms}); heartbeats skipped while busy: ${host.heartbeatsSkipped}`;
}

/**
 * Multi-line report for the /gateway command. `bus` is undefined until Redis first answered (the
 * extension makes its bus then, single or cluster); `url` is where it is looking.
 */
export async function gatewayReport(snapshot: StatusSnapshot, { bus, url }: { bus: GatewayBus | undefined; url: string }, waiting: string): Promise<string> {
  const { session, host } = snapshot;
  const consumer = host?.consumer;
  const queues = consumer?.queues ?? [];
  const backlog = !bus
    ? "unknown (Redis not answering)"
    : await withinASecond(
        Promise.all(queues.map(async (q) => `${q}=${await bus.pending(q)}`)).then((parts) => parts.join(" ") || "unknown (role not decided yet)"),
        "unknown (Redis not answering)",
      ).catch(() => "unknown");
  const lastBeat = !bus ? ("unknown" as const) : await withinASecond(bus.lastHeartbeat(), "unknown" as const).catch(() => "unknown" as const);
  const connection = consumer?.state ?? bus?.connectionState ?? `waiting for Redis${snapshot.waitingFor ? `: ${snapshot.waitingFor}` : ""} (trying again)`;
  const kind = bus ? (bus.keys.cluster ? " (Redis Cluster)" : "") : "";
  const stats = consumer?.stats ?? { delivered: 0, batches: 0, duplicates: 0, deadLettered: 0 };
  const lines = [
    `role: ${roleLine(snapshot)}`,
    `session id: ${session.sessionId}${session.durable ? " (durable)" : ""}  (exported to child processes as GATEWAY_SESSION_ID)`,
    `owner: ${ownerLine(snapshot)}`,
    `redis: ${redactUrl(url)}${kind} — ${connection}`,
    `backlog: ${backlog}`,
    `waiting for pi to record: ${waiting}`,
    `delivered: ${stats.delivered} events in ${stats.batches} messages; duplicates skipped: ${stats.duplicates}; dead-lettered: ${stats.deadLettered}`,
    heartbeatLine(snapshot, lastBeat),
  ];
  if (snapshot.lastError) lines.push(`last error: ${snapshot.lastError}`);
  return lines.join("\n");
}

function centralText(central: LeaseHolder | undefined): string {
  return central ? `central is ${describeHolder(central)}` : "no live central";
}

/** Never hold /gateway hostage to an unreachable Redis. */
function withinASecond<T, F>(promise: Promise<T>, fallback: F): Promise<T | F> {
  return Promise.race([promise, sleep(1_000, fallback, { ref: false })]);
}
