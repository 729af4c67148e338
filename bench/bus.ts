/**
 * Bus section: the seed's naive drain against ours, under the same load of concurrent producers.
 *
 * Approaches (each on a freshly flushed Redis, same key names `agent:events:gateway`):
 *
 *   naive        The seed. Producers `LPUSH agent:events:<sid> json` then `PUBLISH agent:notify:<sid>`.
 *                The consumer, woken by the notify channel, drains in a tight loop until the list is
 *                empty: `LRANGE key 0 -1`, JSON.parse of the batch (the processing the seed does
 *                before deleting; no artificial delay), then `DEL key` as a separate command. Anything
 *                LPUSHed between the LRANGE and the DEL is deleted unseen: that is the loss measured.
 *   ours-claim   Producers call GatewayBus.push; the consumer is the same notify-triggered tight
 *                loop, with bus.claim + bus.ack instead of LRANGE + DEL (the apples-to-apples one).
 *   ours-consumer Producers call GatewayBus.push; the consumer is EventConsumer (what the extension
 *                and the daemon run) with a `deliver` callback that records ids and receive times.
 *
 * Producers are child processes (bench/producer.ts), one per producer, started once and reused by
 * every approach; each pushes its events back to back, awaiting every push.
 *
 * Latency is push-to-drain: from right before the producer's push to the moment the consumer has
 * the event in hand (LRANGE reply / claim reply / deliver call), on a clock shared by processes.
 * Throughput is distinct events delivered per second over the drain window: first push started to
 * the later of last push answered and last event received (so it never exceeds the push rate; a
 * consumer that keeps up matches it, one that loses events falls short by the loss).
 *
 * Rounds: after BENCH_WARMUP_ROUNDS unmeasured rounds (the producers take a few seconds of work to
 * reach their steady rate), BENCH_ROUNDS rounds each run every approach, in an order rotating from
 * round to round; counts are summed and latencies pooled over rounds.
 *
 * Env: BENCH_PRODUCERS (8), BENCH_EVENTS per producer per round (1000), BENCH_ROUNDS (3),
 * BENCH_PAYLOAD_BYTES (200), BENCH_WARMUP events per producer per warm-up round (800, 0 = none),
 * BENCH_WARMUP_ROUNDS (1), BENCH_BACKLOG (5000, 0 = skip), BENCH_MAX_CLAIM (most events one claim of
 * ours takes: 2000, the daemon's DAEMON_BATCH_SIZE; the claim loop asks for that many, EventConsumer
 * starts at the bus's batch size and doubles up to it while claims come back full), BENCH_APPROACHES (subset/order of
 * naive,ours-claim,ours-consumer), BENCH_NAIVE_PARSE (before|after: where the naive consumer parses
 * its batch relative to the DEL; "before" is the seed).
 *
 * Drain-only phase: with concurrent producers the drain rate is bounded by the push rate, so each
 * approach is also timed draining a backlog queued before its consumer starts (no producers, so no
 * race: the naive drain loses nothing there). That is the consumer's own capacity. It is repeated
 * BENCH_ROUNDS times and the median reported.
 */
import { fork, type ChildProcess } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { GatewayBus } from "../src/bus/bus.js";
import { EventConsumer } from "../src/bus/consumer.js";
import { DEFAULT_PREFIX, DEFAULT_CENTRAL_SESSION, keySpace } from "../src/protocol/keys.js";
import { createEvent } from "../src/protocol/event.js";
import { DAEMON_BATCH_SIZE } from "../src/daemon/config.js";
import { eventId, type BenchPayload, type FromProducer, type Mode, type ProducerDone, type ToProducer } from "./bus-shared.js";
import { defineSection, type BenchContext } from "./section.js";
import { fmt, nowMs, round, summarize, table, type Summary } from "./stats.js";

const PREFIX = DEFAULT_PREFIX;
const SID = DEFAULT_CENTRAL_SESSION;

export interface BusBenchConfig {
  producers: number;
  eventsPerProducer: number;
  payloadBytes: number;
  warmupPerProducer: number;
  /** Unmeasured rounds of every approach before the measured ones. */
  warmupRounds: number;
  /** Events queued before the consumer starts, for the drain-only phase (0 = skip it). */
  backlog: number;
  /** Measured rounds; each runs every approach, in a rotating order. */
  rounds: number;
  /** Which approaches run, in this order (BENCH_APPROACHES, comma-separated; ratios need naive). */
  approaches: ApproachName[];
  /** Naive consumer: parse the batch between LRANGE and DEL (the seed) or after the DEL. */
  naiveParse: "before" | "after";
  /** Most events one claim of ours takes (the daemon's claim size by default). */
  maxClaim: number;
}

export function busConfigFromEnv(env: NodeJS.ProcessEnv = process.env): BusBenchConfig {
  const int = (name: string, fallback: number, min: number) => {
    const raw = env[name];
    if (raw === undefined || raw === "") return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new Error(`${name}="${raw}": expected a whole number >= ${min}`);
    return n;
  };
  return {
    producers: int("BENCH_PRODUCERS", 8, 1),
    eventsPerProducer: int("BENCH_EVENTS", 1000, 1),
    rounds: int("BENCH_ROUNDS", 3, 1),
    payloadBytes: int("BENCH_PAYLOAD_BYTES", 200, 0),
    warmupPerProducer: int("BENCH_WARMUP", 800, 0),
    warmupRounds: int("BENCH_WARMUP_ROUNDS", 1, 0),
    backlog: int("BENCH_BACKLOG", 5_000, 0),
    approaches: approachList(env.BENCH_APPROACHES),
    naiveParse: env.BENCH_NAIVE_PARSE === "after" ? "after" : "before",
    maxClaim: int("BENCH_MAX_CLAIM", DAEMON_BATCH_SIZE, 1),
  };
}

const APPROACH_NAMES = ["naive", "ours-claim", "ours-consumer"] as const;
type ApproachName = (typeof APPROACH_NAMES)[number];

function approachList(raw: string | undefined): ApproachName[] {
  if (!raw) return [...APPROACH_NAMES];
  const names = raw
    .split(",")
    .map((n) => n.trim())
    .filter(Boolean);
  for (const n of names) {
    if (!(APPROACH_NAMES as readonly string[]).includes(n)) throw new Error(`BENCH_APPROACHES: unknown "${n}"; known: ${APPROACH_NAMES.join(", ")}`);
  }
  return [...new Set(names)] as ApproachName[];
}

// ------------------------------------------------------------------ recording what is received

interface ReceivedEvent {
  id: string;
  payload: unknown;
}

class Recorder {
  readonly counts = new Map<string, number>();
  readonly latencies: number[] = [];
  deliveries = 0;
  /** Events of one producer received before an earlier one of the same producer (FIFO broken). */
  orderViolations = 0;
  firstAt = NaN;
  lastAt = NaN;
  private readonly lastSeq = new Map<number, number>();

  record(events: ReceivedEvent[], at: number): void {
    if (Number.isNaN(this.firstAt)) this.firstAt = at;
    this.lastAt = at;
    for (const event of events) {
      this.deliveries++;
      const seen = this.counts.get(event.id) ?? 0;
      this.counts.set(event.id, seen + 1);
      if (seen) continue;
      const payload = event.payload as Partial<BenchPayload> | undefined;
      if (typeof payload?.sentAt === "number") this.latencies.push(at - payload.sentAt);
      if (typeof payload?.producer === "number" && typeof payload.seq === "number") {
        const last = this.lastSeq.get(payload.producer) ?? -1;
        if (payload.seq < last) this.orderViolations++;
        else this.lastSeq.set(payload.producer, payload.seq);
      }
    }
  }

  get unique(): number {
    return this.counts.size;
  }
}

// ------------------------------------------------------------------ consumers

interface BenchConsumer {
  /** Connections and registration, nothing drained yet (not timed in the drain-only phase). */
  prepare(): Promise<void>;
  /** Subscribes and drains what is there. */
  start(): Promise<void>;
  /** One more full drain, awaited (after the producers are done). */
  flush(): Promise<void>;
  /** Events still in Redis for the session: pending, in flight, dead-lettered. */
  leftovers(): Promise<{ pending: number; inFlight: number; deadLettered: number }>;
  stop(): Promise<void>;
  extra?(): Record<string, unknown>;
}

/** Runs `drainOnce` on request, never twice at once; a request during a drain re-runs it after. */
class CoalescedDrain {
  private running: Promise<void> | undefined;
  private again = false;
  errors = 0;
  lastError: string | undefined;

  constructor(private readonly drainOnce: () => Promise<void>) {}

  request(): void {
    void this.run().catch((error: Error) => {
      this.errors++;
      this.lastError = error.message;
    });
  }

  run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.drainOnce();
        } while (this.again);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }
}

function plainClient(url: string, name: string): Redis {
  const client = new Redis(url, { connectionName: name, lazyConnect: true });
  client.on("error", () => undefined);
  return client;
}

/** The seed's consumer, reimplemented faithfully. */
function naiveConsumer(url: string, recorder: Recorder, config: BusBenchConfig): BenchConsumer {
  const keys = keySpace(PREFIX);
  const key = keys.events(SID);
  const cmd = plainClient(url, "bench-naive-consumer");
  const sub = plainClient(url, "bench-naive-sub");
  let batches = 0;
  const drain = new CoalescedDrain(async () => {
    // Tight loop: keep draining while there is anything, like the seed's drain-until-empty.
    for (;;) {
      const raw = await cmd.lrange(key, 0, -1);
      if (raw.length === 0) return;
      const at = nowMs();
      // The seed's processing between reading and deleting: parse the batch (LPUSH order is newest
      // first, so reverse for oldest first). No artificial delay is added. With
      // BENCH_NAIVE_PARSE=after the DEL is sent right after the LRANGE reply (the smallest window
      // the two-command drain can have) and the parse happens after it.
      const parse = () => raw.reverse().map((entry) => JSON.parse(entry) as ReceivedEvent);
      const early = config.naiveParse === "before" ? parse() : undefined;
      await cmd.del(key); // NOT atomic with the LRANGE above: what arrived in between is gone.
      const events = early ?? parse();
      batches++;
      recorder.record(events, at);
    }
  });
  return {
    async prepare() {
      await cmd.connect();
      await sub.connect();
    },
    async start() {
      sub.on("message", () => drain.request());
      await sub.subscribe(keys.notify(SID));
      await drain.run();
    },
    flush: () => drain.run(),
    async leftovers() {
      return { pending: await cmd.llen(key), inFlight: 0, deadLettered: 0 };
    },
    async stop() {
      sub.disconnect();
      await cmd.quit().catch(() => cmd.disconnect());
    },
    extra: () => ({ batches, drainErrors: drain.errors, ...(drain.lastError ? { lastDrainError: drain.lastError } : {}) }),
  };
}

async function leftoversOf(bus: GatewayBus): Promise<{ pending: number; inFlight: number; deadLettered: number }> {
  const [pending, inFlight, deadLettered] = await Promise.all([
    bus.client.llen(bus.keys.events(SID)),
    bus.client.hlen(bus.keys.inflight(SID)),
    bus.client.llen(bus.keys.deadLetters),
  ]);
  return { pending, inFlight, deadLettered };
}

/** Ours, minimal: the same notify-triggered tight loop, with claim + ack. */
function claimLoopConsumer(url: string, recorder: Recorder, config: BusBenchConfig): BenchConsumer {
  let bus: GatewayBus | undefined;
  const sub = plainClient(url, "bench-claim-sub");
  let batches = 0;
  let duplicates = 0;
  const drain = new CoalescedDrain(async () => {
    const b = bus!;
    for (;;) {
      const claimed = await b.claim(SID, config.maxClaim);
      duplicates += claimed.duplicates;
      if (claimed.events.length === 0) {
        if (claimed.duplicates || claimed.deadLettered) continue;
        return;
      }
      recorder.record(claimed.events, nowMs());
      await b.ack(
        SID,
        claimed.events.map((e) => e.id),
      );
      batches++;
    }
  });
  return {
    async prepare() {
      bus = await GatewayBus.connect({ redisUrl: url, prefix: PREFIX, name: "bench-claim-consumer" });
      // Registered like the central session, so push fans out exactly as with EventConsumer.
      await bus.register({ id: SID, role: "central", durable: true, instance: "bench-claim-loop" });
      await sub.connect();
    },
    async start() {
      sub.on("message", () => drain.request());
      await sub.subscribe(bus!.keys.notify(SID));
      await drain.run();
    },
    flush: () => drain.run(),
    leftovers: () => leftoversOf(bus!),
    async stop() {
      sub.disconnect();
      await bus?.close();
    },
    extra: () => ({ batches, claimDuplicates: duplicates, drainErrors: drain.errors, ...(drain.lastError ? { lastDrainError: drain.lastError } : {}) }),
  };
}

/** Ours, realistic: the EventConsumer the extension and the daemon run. */
function eventConsumer(url: string, recorder: Recorder, config: BusBenchConfig): BenchConsumer {
  let bus: GatewayBus | undefined;
  let consumer: EventConsumer | undefined;
  let drainFailures = 0;
  return {
    async prepare() {
      bus = await GatewayBus.connect({ redisUrl: url, prefix: PREFIX, name: "bench-event-consumer", persistent: true });
    },
    // EventConsumer.start() registers, subscribes, recovers and drains: all of it is timed.
    async start() {
      consumer = new EventConsumer({
        bus: bus!,
        sessionId: SID,
        role: "central",
        durable: true,
        kind: "bench",
        maxClaim: config.maxClaim,
        deliver: async (batch) => recorder.record(batch.events, nowMs()),
      });
      consumer.on("drainFailed", () => drainFailures++);
      await consumer.start();
    },
    flush: () => consumer!.drain(),
    leftovers: () => leftoversOf(bus!),
    async stop() {
      await consumer?.stop();
      await bus?.close();
    },
    extra: () => ({ ...consumer!.stats, drainFailures }),
  };
}

// ------------------------------------------------------------------ producers

class ProducerPool {
  private constructor(private readonly children: ChildProcess[]) {}

  static async start(count: number, redisUrl: string): Promise<ProducerPool> {
    const script = fileURLToPath(new URL("./producer.ts", import.meta.url));
    // Resolved here so the children find tsx whatever the working directory.
    const tsx = import.meta.resolve("tsx");
    const children: ChildProcess[] = [];
    const pool = new ProducerPool(children);
    try {
      for (let i = 0; i < count; i++) {
        children.push(
          fork(script, [], {
            execArgv: ["--import", tsx],
            env: { ...process.env, BENCH_PRODUCER_INDEX: String(i), BENCH_REDIS_URL: redisUrl },
            stdio: ["ignore", "ignore", "inherit", "ipc"],
          }),
        );
      }
      await Promise.all(children.map((child) => nextMessage(child, "ready")));
    } catch (error) {
      await pool.close();
      throw error;
    }
    return pool;
  }

  /** Starts every producer at once and waits for all of them. */
  async run(mode: Mode, events: number, payloadBytes: number): Promise<ProducerDone[]> {
    const done = this.children.map((child) => nextMessage(child, "done"));
    const msg: ToProducer = { type: "run", mode, prefix: PREFIX, sid: SID, events, payloadBytes };
    for (const child of this.children) child.send(msg);
    return Promise.all(done);
  }

  async close(): Promise<void> {
    await Promise.all(
      this.children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        if (child.connected) child.send({ type: "exit" } satisfies ToProducer);
        const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}

function nextMessage<T extends FromProducer["type"]>(child: ChildProcess, type: T): Promise<Extract<FromProducer, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (msg: FromProducer) => {
      if (msg.type === type) {
        cleanup();
        resolve(msg as Extract<FromProducer, { type: T }>);
      } else if (msg.type === "fatal") {
        cleanup();
        reject(new Error(`producer ${child.pid}: ${msg.error}`));
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`producer ${child.pid} exited (code ${code}) while waiting for "${type}"`));
    };
    const cleanup = () => {
      child.off("message", onMessage);
      child.off("exit", onExit);
    };
    child.on("message", onMessage);
    child.on("exit", onExit);
  });
}

// ------------------------------------------------------------------ one approach

const APPROACHES: Array<{ name: ApproachName; label: string; mode: Mode; consumer: (url: string, r: Recorder, config: BusBenchConfig) => BenchConsumer }> = [
  { name: "naive", label: "seed naive (LRANGE+DEL)", mode: "naive", consumer: naiveConsumer },
  { name: "ours-claim", label: "ours: claim+ack loop", mode: "ours", consumer: claimLoopConsumer },
  { name: "ours-consumer", label: "ours: EventConsumer", mode: "ours", consumer: eventConsumer },
];

/** One measured round of one approach. */
interface RoundRaw {
  pushed: number;
  pushFailures: number;
  firstError?: string;
  delivered: number;
  deliveries: number;
  orderViolations: number;
  stranded: number;
  pushWindowMs: number;
  drainWindowMs: number;
  latencies: number[];
  consumer: Record<string, unknown>;
  retainedBytes: number;
  wallMs: number;
}

async function usedMemory(admin: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await admin.info("memory"))?.[1] ?? NaN);
}

export interface RoundSummary extends Record<string, unknown> {
  lost: number;
  pushRate: number;
  throughput: number;
  p50: number;
  p99: number;
}

export interface ApproachResult extends Record<string, unknown> {
  label: string;
  pushed: number;
  pushFailures: number;
  delivered: number;
  lost: number;
  duplicates: number;
  orderViolations: number;
  /** Still in Redis at the end (pending + in flight + dead-lettered): neither delivered nor lost. */
  stranded: number;
  /** Summed over rounds. */
  pushWindowMs: number;
  /** pushed / push window. */
  pushRate: number;
  /** Summed over rounds: first push started to the later of last push answered and last event received. */
  drainWindowMs: number;
  /** delivered / drain window. */
  throughput: number;
  /** Over every delivered event of every round. */
  latencyMs: Summary;
  /** Consumer counters, summed over rounds. */
  consumer: Record<string, unknown>;
  /**
   * Redis memory still used once everything is delivered (bytes, after minus before the round,
   * mean over rounds): the bookkeeping kept per event (dedup ids, journal).
   */
  retainedBytes: number;
  /** Per round, to see the spread. */
  rounds: RoundSummary[];
  /** Wall time of the measured rounds: consumer start, pushes, settling. */
  wallMs: number;
}

async function runRound(
  redisUrl: string,
  admin: Redis,
  pool: ProducerPool,
  approach: (typeof APPROACHES)[number],
  config: BusBenchConfig,
  eventsPerProducer: number,
): Promise<RoundRaw> {
  const t0 = nowMs();
  await admin.flushall();
  const memoryBefore = await usedMemory(admin);
  const recorder = new Recorder();
  const consumer = approach.consumer(redisUrl, recorder, config);
  try {
    await consumer.prepare();
    await consumer.start();
    const done = await pool.run(approach.mode, eventsPerProducer, config.payloadBytes);
    const pushed = done.reduce((n, d) => n + d.pushed, 0);
    // Producers are done; let the consumer finish what is in flight, then one last full drain.
    const deadline = nowMs() + 30_000;
    let left = await consumer.leftovers();
    while (nowMs() < deadline) {
      await consumer.flush();
      left = await consumer.leftovers();
      if (left.pending + left.inFlight === 0 || recorder.unique >= pushed) break;
      await sleep(20);
    }
    const firstPush = Math.min(...done.map((d) => d.startedAt));
    const lastPush = Math.max(...done.map((d) => d.endedAt));
    const firstError = done.find((d) => d.firstError)?.firstError;
    return {
      pushed,
      pushFailures: done.reduce((n, d) => n + d.failed + d.refused, 0),
      ...(firstError ? { firstError } : {}),
      delivered: recorder.unique,
      deliveries: recorder.deliveries,
      orderViolations: recorder.orderViolations,
      stranded: left.pending + left.inFlight + left.deadLettered,
      pushWindowMs: lastPush - firstPush,
      drainWindowMs: (Number.isNaN(recorder.lastAt) ? lastPush : Math.max(lastPush, recorder.lastAt)) - firstPush,
      latencies: recorder.latencies,
      consumer: consumer.extra?.() ?? {},
      retainedBytes: (await usedMemory(admin)) - memoryBefore,
      wallMs: nowMs() - t0,
    };
  } finally {
    await consumer.stop();
  }
}

function aggregate(label: string, rounds: RoundRaw[]): ApproachResult {
  const sum = (f: (r: RoundRaw) => number) => rounds.reduce((n, r) => n + f(r), 0);
  const lostOf = (r: RoundRaw) => Math.max(0, r.pushed - r.delivered - r.stranded);
  const consumer: Record<string, unknown> = {};
  for (const r of rounds) {
    for (const [key, value] of Object.entries(r.consumer)) {
      if (typeof value === "number" && key !== "lastDeliveryAt") consumer[key] = ((consumer[key] as number | undefined) ?? 0) + value;
      else if (typeof value === "string") consumer[key] = value;
    }
  }
  const pushed = sum((r) => r.pushed);
  const delivered = sum((r) => r.delivered);
  const pushWindowMs = sum((r) => r.pushWindowMs);
  const drainWindowMs = sum((r) => r.drainWindowMs);
  const firstError = rounds.find((r) => r.firstError)?.firstError;
  return {
    label,
    pushed,
    pushFailures: sum((r) => r.pushFailures),
    ...(firstError ? { firstPushError: firstError } : {}),
    delivered,
    lost: sum(lostOf),
    duplicates: sum((r) => r.deliveries - r.delivered),
    orderViolations: sum((r) => r.orderViolations),
    stranded: sum((r) => r.stranded),
    pushWindowMs: round(pushWindowMs, 1),
    pushRate: round(pushed / (pushWindowMs / 1000), 1),
    drainWindowMs: round(drainWindowMs, 1),
    throughput: round(delivered / (drainWindowMs / 1000), 1),
    latencyMs: roundSummary(summarize(rounds.flatMap((r) => r.latencies))),
    consumer,
    retainedBytes: Math.round(sum((r) => r.retainedBytes) / rounds.length),
    rounds: rounds.map((r) => {
      const lat = summarize(r.latencies);
      return {
        lost: lostOf(r),
        pushRate: round(r.pushed / (r.pushWindowMs / 1000), 1),
        throughput: round(r.delivered / (r.drainWindowMs / 1000), 1),
        p50: round(lat.p50),
        p99: round(lat.p99),
      };
    }),
    wallMs: round(
      sum((r) => r.wallMs),
      1,
    ),
  };
}

/** One drain of a backlog. */
interface BacklogRun {
  delivered: number;
  /** Consumer start (connected, not yet subscribed or draining) to last event received. */
  drainMs: number;
}

export interface BacklogResult extends Record<string, unknown> {
  queued: number;
  /** Fewest delivered over the repetitions (all of them, for every approach: nothing races here). */
  delivered: number;
  repetitions: number;
  /** Median over the repetitions. */
  drainMs: number;
  /** queued / median drain time. */
  throughput: number;
  /** queued / fastest drain time (least disturbed by the rest of the machine). */
  bestThroughput: number;
  runsMs: number[];
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function backlogResult(queued: number, runs: BacklogRun[]): BacklogResult {
  const times = runs.map((r) => r.drainMs);
  const drainMs = median(times);
  return {
    queued,
    delivered: Math.min(...runs.map((r) => r.delivered)),
    repetitions: runs.length,
    drainMs: round(drainMs),
    throughput: round(queued / (drainMs / 1000), 1),
    bestThroughput: round(queued / (Math.min(...times) / 1000), 1),
    runsMs: times.map((t) => round(t, 1)),
  };
}

/** Queues `count` events with the approach's producer commands, then times its consumer draining them. */
async function runBacklog(redisUrl: string, admin: Redis, approach: (typeof APPROACHES)[number], config: BusBenchConfig): Promise<BacklogRun> {
  const { backlog: count, payloadBytes } = config;
  await admin.flushall();
  const pad = "x".repeat(payloadBytes);
  const chunk = 1_000;
  if (approach.mode === "naive") {
    const keys = keySpace(PREFIX);
    for (let start = 0; start < count; start += chunk) {
      const pipeline = admin.pipeline();
      for (let seq = start; seq < Math.min(count, start + chunk); seq++) {
        const payload: BenchPayload = { producer: 0, seq, sentAt: nowMs(), pad };
        pipeline.lpush(keys.events(SID), JSON.stringify({ id: eventId(0, seq), type: "bench.event", source: "bench-backlog", payload, ts: Date.now() }));
      }
      await pipeline.exec();
    }
  } else {
    const bus = await GatewayBus.connect({ redisUrl, prefix: PREFIX, name: "bench-backlog-producer" });
    try {
      await bus.register({ id: SID, role: "central", durable: true, instance: "bench-backlog" });
      for (let start = 0; start < count; start += chunk) {
        const pushes: Array<Promise<unknown>> = [];
        for (let seq = start; seq < Math.min(count, start + chunk); seq++) {
          const payload: BenchPayload = { producer: 0, seq, sentAt: nowMs(), pad };
          pushes.push(bus.push(createEvent("bench.event", "bench-backlog", payload, { id: eventId(0, seq) })));
        }
        await Promise.all(pushes);
      }
      // A clean stop: the durable id keeps its queue and lets go of its lease, so the consumer takes it at once.
      await bus.unregister(SID, "bench-backlog");
    } finally {
      await bus.close();
    }
  }
  const recorder = new Recorder();
  const consumer = approach.consumer(redisUrl, recorder, config);
  try {
    await consumer.prepare();
    const t0 = nowMs();
    await consumer.start();
    const deadline = nowMs() + 30_000;
    while (recorder.unique < count && nowMs() < deadline) {
      await consumer.flush();
      const left = await consumer.leftovers();
      if (left.pending + left.inFlight === 0) break;
    }
    return { delivered: recorder.unique, drainMs: (Number.isNaN(recorder.lastAt) ? nowMs() : recorder.lastAt) - t0 };
  } finally {
    await consumer.stop();
  }
}

function roundSummary(s: Summary): Summary {
  return { count: s.count, mean: round(s.mean), p50: round(s.p50), p90: round(s.p90), p99: round(s.p99), max: round(s.max) };
}

// ------------------------------------------------------------------ the section

export interface BusResult extends Record<string, unknown> {
  config: BusBenchConfig & { redisVersion: string; aof: boolean };
  /** In run order. */
  approaches: Partial<Record<ApproachName, ApproachResult>>;
  /** Drain-only phase (absent when BENCH_BACKLOG=0). */
  backlog?: Partial<Record<ApproachName, BacklogResult>>;
  /** ours / naive. Throughput above 1 is better; latency below 1 is better. */
  ratios: Partial<Record<ApproachName, Ratios>>;
}

export interface Ratios {
  throughput: number;
  pushRate: number;
  p50: number;
  p99: number;
  backlogThroughput?: number;
}

export const busSection = defineSection<BusResult>({
  name: "bus",
  description: "Redis event bus: seed naive LRANGE+DEL drain vs atomic claim/ack, under concurrent producers",
  async run(ctx: BenchContext): Promise<BusResult> {
    const config = busConfigFromEnv();
    const redis = await ctx.redis();
    const admin = plainClient(redis.url, "bench-admin");
    await admin.connect();
    let pool: ProducerPool | undefined;
    try {
      const info = await admin.info("server");
      ctx.log(`bus: starting ${config.producers} producer processes`);
      pool = await ProducerPool.start(config.producers, redis.url);
      const selected = config.approaches.map((name) => APPROACHES.find((a) => a.name === name)!);
      // Unmeasured warm-up of every approach, then measured rounds in a rotating order so that no
      // approach always runs first (or right after the same one).
      for (let round = 0; round < config.warmupRounds && config.warmupPerProducer > 0; round++) {
        ctx.log(`bus: warm-up ${round + 1}/${config.warmupRounds}, ${config.producers} x ${config.warmupPerProducer} events per approach`);
        for (const approach of selected) await runRound(redis.url, admin, pool, approach, config, config.warmupPerProducer);
      }
      const raw = new Map<ApproachName, RoundRaw[]>(selected.map((a) => [a.name, []]));
      for (let round = 0; round < config.rounds; round++) {
        const order = selected.map((_, i) => selected[(i + round) % selected.length]!);
        for (const approach of order) {
          ctx.log(`bus: round ${round + 1}/${config.rounds}, ${approach.label}: ${config.producers} x ${config.eventsPerProducer} events`);
          raw.get(approach.name)!.push(await runRound(redis.url, admin, pool, approach, config, config.eventsPerProducer));
        }
      }
      const approaches: Partial<Record<ApproachName, ApproachResult>> = {};
      for (const approach of selected) approaches[approach.name] = aggregate(approach.label, raw.get(approach.name)!);
      let backlog: Partial<Record<ApproachName, BacklogResult>> | undefined;
      if (config.backlog > 0) {
        // As many repetitions as rounds, rotating too; the median is reported.
        const runs = new Map<ApproachName, BacklogRun[]>(selected.map((a) => [a.name, []]));
        for (let rep = 0; rep < config.rounds; rep++) {
          ctx.log(`bus: drain-only ${rep + 1}/${config.rounds}: a backlog of ${config.backlog} events per approach`);
          for (let i = 0; i < selected.length; i++) {
            const approach = selected[(i + rep) % selected.length]!;
            runs.get(approach.name)!.push(await runBacklog(redis.url, admin, approach, config));
          }
        }
        backlog = {};
        for (const approach of selected) backlog[approach.name] = backlogResult(config.backlog, runs.get(approach.name)!);
      }
      await admin.flushall();
      const naive = approaches.naive;
      const ratio = (a: number, b: number) => round(a / b, 3);
      const ratios: Partial<Record<ApproachName, Ratios>> = {};
      for (const [name, ours] of Object.entries(approaches) as Array<[ApproachName, ApproachResult]>) {
        if (name === "naive" || !naive) continue;
        const oursBacklog = backlog?.[name];
        const naiveBacklog = backlog?.naive;
        ratios[name] = {
          throughput: ratio(ours.throughput, naive.throughput),
          pushRate: ratio(ours.pushRate, naive.pushRate),
          p50: ratio(ours.latencyMs.p50, naive.latencyMs.p50),
          p99: ratio(ours.latencyMs.p99, naive.latencyMs.p99),
          ...(oursBacklog && naiveBacklog ? { backlogThroughput: ratio(oursBacklog.throughput, naiveBacklog.throughput) } : {}),
        };
      }
      return {
        config: {
          ...config,
          redisVersion: /redis_version:(\S+)/.exec(info)?.[1] ?? "unknown",
          aof: false,
        },
        approaches,
        ...(backlog ? { backlog } : {}),
        ratios,
      };
    } finally {
      await pool?.close();
      await admin.quit().catch(() => admin.disconnect());
    }
  },
  render(result: BusResult): string {
    const c = result.config;
    const rows = Object.values(result.approaches).map((a) => [
      a.label,
      fmt(a.pushed),
      fmt(a.delivered),
      fmt(a.lost),
      `${fmt((a.lost / a.pushed) * 100, 1)}%`,
      fmt(a.duplicates),
      fmt(a.stranded),
      fmt(a.orderViolations),
      fmt(Math.round(a.pushRate)),
      fmt(Math.round(a.throughput)),
      fmt(a.latencyMs.p50),
      fmt(a.latencyMs.p99),
      fmt(a.latencyMs.max),
      fmt(a.retainedBytes / 2 ** 20, 1),
    ]);
    const main = table(
      ["approach", "pushed", "delivered", "LOST", "lost%", "dups", "stranded", "reorder", "push/s", "drained/s", "p50 ms", "p99 ms", "max ms", "kept MiB"],
      rows,
    );
    const label = (name: string) => result.approaches[name as ApproachName]?.label ?? name;
    const ratioRows = Object.entries(result.ratios).map(([name, r]) => [
      label(name),
      `${fmt(r.throughput, 3)}x`,
      `${fmt(r.pushRate, 3)}x`,
      `${fmt(r.p50, 3)}x`,
      `${fmt(r.p99, 3)}x`,
      r.backlogThroughput === undefined ? "-" : `${fmt(r.backlogThroughput, 3)}x`,
    ]);
    const ratios = table(["ratio (ours / naive)", "drained/s", "push/s", "p50", "p99", "backlog drained/s"], ratioRows);
    const backlog = result.backlog
      ? table(
          ["drain-only (backlog queued first)", "queued", "delivered", "median ms", "drained/s", "best drained/s"],
          Object.entries(result.backlog).map(([name, b]) => [
            label(name),
            fmt(b.queued),
            fmt(b.delivered),
            fmt(b.drainMs, 1),
            fmt(Math.round(b.throughput)),
            fmt(Math.round(b.bestThroughput)),
          ]),
        )
      : "";
    return [
      `Redis ${c.redisVersion} (AOF ${c.aof ? "on" : "off"}), ${c.producers} producer processes x ${fmt(c.eventsPerProducer)} events x ${c.rounds} rounds, ` +
        `payload ${c.payloadBytes} B,\nwarm-up ${c.warmupRounds} x ${c.warmupPerProducer}/producer, naive consumer parses its batch ${c.naiveParse} the DEL`,
      "",
      main,
      "",
      ...(backlog ? [backlog, ""] : []),
      ...(ratioRows.length ? [ratios, ""] : []),
      "LOST = pushed - delivered - stranded (stranded = still pending/in flight/dead-lettered at the end).",
      "drained/s = distinct events delivered / (max(last push, last delivery) - first push); latency = push start -> consumer has it.",
      "Counts are summed and latencies pooled over rounds (naive: over the events it did not lose);",
      "kept MiB = Redis memory still in use after a round (all delivered): per-event bookkeeping.",
    ].join("\n");
  },
});
