/**
 * The daemon's state as Prometheus text (GET /metrics): queue depth per priority, the oldest
 * waiting event's age, turns/s and events per turn over the recent window, the bus's backlog and
 * dead letters, and the process's memory, so a scraper sees a backlog grow before a human waits.
 */
import type { BusStatus } from "../bus/bus.js";
import type { DaemonStatus } from "./types.js";

type Sample = [labels: Record<string, string>, value: number];

/** One metric: HELP and TYPE lines, then its samples. */
function metric(name: string, type: "gauge" | "counter", help: string, samples: Sample[]): string[] {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
  for (const [labels, value] of samples) {
    const text = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",");
    lines.push(`${name}${text ? `{${text}}` : ""} ${Number.isFinite(value) ? value : "NaN"}`);
  }
  return lines;
}

export function prometheusText(daemon: DaemonStatus, bus: BusStatus, memory = process.memoryUsage()): string {
  const load = daemon.load;
  const lines = [
    ...metric("pi_gateway_queue_depth", "gauge", "Commands waiting (or running) in the daemon's queue, per priority.", Object.entries(daemon.queue).map(([priority, n]) => [{ priority }, n])),
    ...metric("pi_gateway_oldest_event_age_seconds", "gauge", "Age of the oldest event command waiting in the daemon's queue (0 when none).", [[{}, (load?.oldestEventAgeMs ?? 0) / 1000]]),
    ...metric("pi_gateway_turns_per_second", "gauge", `Turns answered per second over the last ${load?.windowSeconds ?? 60} s.`, [[{}, load?.turnsPerSecond ?? 0]]),
    ...metric("pi_gateway_events_per_turn", "gauge", `Mean events per event turn over the last ${load?.windowSeconds ?? 60} s (0 when none).`, [[{}, load?.eventsPerTurn ?? 0]]),
    ...metric("pi_gateway_turns_processed_total", "counter", "Turns answered since the daemon started.", [[{}, daemon.processed]]),
    ...metric("pi_gateway_busy", "gauge", "1 while a turn runs.", [[{}, daemon.state === "busy" ? 1 : 0]]),
    ...metric("pi_gateway_bus_backlog", "gauge", "Events waiting in a bus queue, per queue.", Object.entries(bus.backlog).map(([queue, n]) => [{ queue }, n])),
    ...metric("pi_gateway_dead_letters", "gauge", "Entries on the dead-letter list.", [[{}, bus.deadLetters]]),
    ...metric("pi_gateway_duplicates_total", "counter", "Entries not delivered again because their id was seen before.", [[{}, bus.duplicates]]),
    ...metric("pi_gateway_last_heartbeat_timestamp_seconds", "gauge", "When the last heartbeat was recorded (0: never).", [[{}, (bus.lastHeartbeat ?? 0) / 1000]]),
    ...metric("pi_gateway_resident_memory_bytes", "gauge", "Resident memory of the daemon process.", [[{}, memory.rss]]),
    ...metric("pi_gateway_heap_used_bytes", "gauge", "V8 heap in use in the daemon process.", [[{}, memory.heapUsed]]),
  ];
  return `${lines.join("\n")}\n`;
}

/** Label values escape backslash, quote and newline (the text format's rules). */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}
