/**
 * The daemon's metrics (GET /metrics) in a prom-client Registry: Node's default process metrics,
 * gauges read from the daemon's and the bus's status at each scrape (queue depth per priority, the
 * oldest waiting event's age, turns/s and events per turn over the recent window, bus backlog and
 * dead letters), and counters the daemon feeds as it works (events delivered, events
 * dead-lettered, turn duration, Redis reconnects), so a scraper sees a backlog grow before a human
 * waits.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { BusStatus } from "../bus/bus.js";
import type { DaemonObserver, DaemonStatus, Priority } from "./types.js";

/** What one scrape reads: both statuses, fetched once before the registry renders. */
export interface MetricsSnapshot {
  daemon: DaemonStatus;
  bus: BusStatus;
}

type Samples = Array<[labels: Record<string, string>, value: number]>;

/** Turn durations from a quick heartbeat ack to a long tool-using turn (seconds). */
const TURN_BUCKETS = [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

export class DaemonMetrics implements DaemonObserver {
  readonly registry = new Registry();
  /** The last scrape's statuses; the status-backed metrics read it while the registry renders. */
  private snapshot: MetricsSnapshot | undefined;
  private readonly delivered: Counter;
  private readonly deadLetteredEvents: Counter;
  private readonly turnDuration: Histogram<"priority">;
  private readonly reconnects: Counter;

  /** `liveHeap`: the heap after the latest full GC (live-heap.ts), reported as pi_gateway_heap_live_bytes. */
  constructor(options: { processMetrics?: boolean; liveHeap?: () => number | undefined } = {}) {
    const registers = [this.registry];
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    if (options.liveHeap) this.liveHeapGauge(options.liveHeap);
    this.delivered = new Counter({
      name: "pi_gateway_events_delivered_total",
      help: "Bus events the daemon took into its command queue (heartbeats included).",
      registers,
    });
    this.deadLetteredEvents = new Counter({
      name: "pi_gateway_events_dead_lettered_total",
      help: "Messages and events the daemon dead-lettered after their turn failed for good.",
      registers,
    });
    this.turnDuration = new Histogram({
      name: "pi_gateway_turn_duration_seconds",
      help: "How long turns took, per priority (answered, aborted or failed).",
      labelNames: ["priority"],
      buckets: TURN_BUCKETS,
      registers,
    });
    this.reconnects = new Counter({
      name: "pi_gateway_redis_reconnects_total",
      help: "Attempts to reconnect to Redis after the connection was lost.",
      registers,
    });
    this.statusMetrics();
  }

  eventsDelivered(count: number): void {
    if (count > 0) this.delivered.inc(count);
  }

  deadLettered(count: number): void {
    if (count > 0) this.deadLetteredEvents.inc(count);
  }

  turnEnded(priority: Priority, seconds: number): void {
    if (Number.isFinite(seconds) && seconds >= 0) this.turnDuration.observe({ priority }, seconds);
  }

  redisReconnecting(): void {
    this.reconnects.inc();
  }

  /** The Prometheus text: `read` is called once per scrape for the status-backed figures. */
  async text(read: () => Promise<MetricsSnapshot>): Promise<string> {
    this.snapshot = await read();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Metrics whose value is whatever the last snapshot says (a missing figure as 0). */
  private statusMetrics(): void {
    const load = (s: MetricsSnapshot) => s.daemon.load;
    this.gauge(
      "pi_gateway_queue_depth",
      "Commands waiting (or running) in the daemon's queue, per priority.",
      (s) => Object.entries(s.daemon.queue).map(([priority, n]) => [{ priority }, n]),
      ["priority"],
    );
    this.gauge("pi_gateway_oldest_event_age_seconds", "Age of the oldest event command waiting in the daemon's queue (0 when none).", (s) => [
      [{}, (load(s)?.oldestEventAgeMs ?? 0) / 1000],
    ]);
    this.gauge("pi_gateway_turns_per_second", "Turns answered per second over the recent window (60 s).", (s) => [[{}, load(s)?.turnsPerSecond ?? 0]]);
    this.gauge("pi_gateway_events_per_turn", "Mean events per event turn over the recent window (0 when none).", (s) => [[{}, load(s)?.eventsPerTurn ?? 0]]);
    this.total("pi_gateway_turns_processed_total", "Turns answered since the daemon started.", (s) => s.daemon.processed);
    this.gauge("pi_gateway_busy", "1 while a turn runs.", (s) => [[{}, s.daemon.state === "busy" ? 1 : 0]]);
    this.gauge(
      "pi_gateway_bus_backlog",
      "Events waiting in a bus queue, per queue.",
      (s) => Object.entries(s.bus.backlog).map(([queue, n]) => [{ queue }, n]),
      ["queue"],
    );
    this.gauge("pi_gateway_dead_letters", "Entries on the dead-letter list.", (s) => [[{}, s.bus.deadLetters]]);
    this.total(
      "pi_gateway_events_pushed_total",
      "Events accepted by the bus's push (each once, whatever its fan-out; raw LPUSH producers are not counted).",
      (s) => s.bus.pushed,
    );
    this.total("pi_gateway_duplicates_total", "Entries not delivered again because their id was seen before.", (s) => s.bus.duplicates);
    this.gauge("pi_gateway_last_heartbeat_timestamp_seconds", "When the last heartbeat was recorded (0: never).", (s) => [
      [{}, (s.bus.lastHeartbeat ?? 0) / 1000],
    ]);
  }

  /** The figure a leak moves and garbage does not (0 before the first full GC, as every unknown here). */
  private liveHeapGauge(read: () => number | undefined): void {
    new Gauge({
      name: "pi_gateway_heap_live_bytes",
      help: "V8 heap in use right after the latest full garbage collection: the live heap, without garbage not yet collected (0 before the first).",
      registers: [this.registry],
      collect() {
        this.set(finite(read() ?? 0));
      },
    });
  }

  private gauge(name: string, help: string, read: (s: MetricsSnapshot) => Samples, labelNames: string[] = []): void {
    new Gauge({ name, help, labelNames, registers: [this.registry], collect: this.collector(read) });
  }

  /** A counter whose running total lives elsewhere (the daemon or Redis): set to it at each scrape. */
  private total(name: string, help: string, read: (s: MetricsSnapshot) => number): void {
    new Counter({ name, help, registers: [this.registry], collect: this.collector((s) => [[{}, Math.max(0, read(s))]]) });
  }

  /** Refills a metric from the current snapshot at each scrape. */
  private collector(read: (s: MetricsSnapshot) => Samples): (this: Gauge | Counter) => void {
    const current = () => this.snapshot;
    return function collect() {
      // Labels that vanished (a queue drained and unregistered) must not linger with an old value.
      this.reset();
      const snapshot = current();
      if (!snapshot) return;
      for (const [labels, value] of read(snapshot)) this.inc(labels, finite(value));
    };
  }
}

/** The text format has no way to say "unknown" for a gauge we own: 0 rather than NaN. */
function finite(value: number): number {
  return Number.isFinite(value) ? value : 0;
}
