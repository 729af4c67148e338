/**
 * The daemon under sustained load (issue #13): the built daemon (real pi SDK) against the fake LLM
 * answering every turn after a realistic 200–500 ms, a producer pushing `rate` events/s (in bursts
 * every 250 ms) and a WebSocket client sending a human prompt every 5 s, for `seconds`. Shared by
 * the shortened chaos scenario (daemon-load.chaos.ts) and `npm run soak` (scripts/soak.mjs).
 *
 * It measures human-prompt latency, events per turn, the event backlog over time, daemon RSS,
 * Redis memory (INFO memory) and the session file's size, and returns what the callers assert:
 * every event reached the LLM exactly once, human p99 within 2 turn times, backlog bounded.
 */
import { statSync } from "node:fs";
import { WebSocket } from "ws";
import { GatewayBus } from "../../src/bus/bus.js";
import type { DaemonStatus } from "../../src/daemon/types.js";
import type { ServerMessage } from "../../src/daemon/ws-protocol.js";
import { createEvent } from "../../src/protocol/event.js";
import { eventIdsIn } from "../helpers/prompt-ids.js";
import type { DaemonProcess } from "../helpers/daemon.js";
import { isSummaryRequest, startFakeLlm, type FakeLlmRequest } from "../helpers/fake-llm.js";
import { createPiEnv } from "../helpers/pi-env.js";
import { startRedis, type RedisServer } from "../helpers/redis-server.js";
import { sleep, waitFor } from "../helpers/wait.js";
import { startChaosDaemon, TOKEN, wsPrompt, type WsReply } from "./daemon-kit.js";
import { figure, mib, percentile, prng, rssMiB, seconds } from "./harness.js";
import { flatText, judgeMemory, WARM_UP_MS, type MemorySample } from "./soak-memory.js";

export interface SoakOptions {
  seconds: number;
  /** Events per second. */
  rate: number;
  promptEveryMs: number;
  /** Extra daemon environment (GATEWAY_AGING...). */
  env?: Record<string, string>;
}

/**
 * The bounds the soak runs with: small enough that every capped structure reaches its cap during
 * warm-up, so "flat after warm-up" is measured in minutes rather than after the default caps'
 * ~80 minutes at 20 events/s (README "Memory bounds" has the default figures).
 */
export const SOAK_BOUNDS = {
  GATEWAY_DEDUP_MAX: "1000",
  GATEWAY_JOURNAL_CAP: "1000",
  GATEWAY_SESSION_FILE_MAX: "256KiB",
} as const;

/**
 * The soaks' Redis (AOF, fsync always) and the producer's bus on it, both ended by `cleanups`. The
 * producer's bus keeps pushed ids too: the same caps as the daemon's.
 */
export async function startSoakRedis(cleanups: Array<() => unknown>): Promise<{ redis: RedisServer; bus: GatewayBus }> {
  const redis = await startRedis({ aof: true });
  cleanups.push(() => redis.stop());
  const bus = await GatewayBus.connect({
    redisUrl: redis.url,
    dedupMax: Number(SOAK_BOUNDS.GATEWAY_DEDUP_MAX),
    journalCap: Number(SOAK_BOUNDS.GATEWAY_JOURNAL_CAP),
  });
  cleanups.push(() => bus.close());
  return { redis, bus };
}
export interface Sample extends MemorySample {
  eventQueue: number;
  oldestEventAgeMs: number;
  sessionKiB: number;
}

export interface SoakReport {
  pushed: number;
  missing: number;
  twice: number;
  eventTurns: number;
  eventsPerTurn: { mean: number; max: number };
  human: { answered: number; failed: string[]; p50: number; p99: number; max: number };
  /** Durations of turns (start to end as every WebSocket client sees them). */
  turn: { p50: number; p99: number };
  samples: Sample[];
  maxOldestEventAgeMs: number;
  drainedAfterMs: number;
  daemonAlive: boolean;
  output: string;
}

/** Realistic reply times: every turn 200–500 ms (seeded), human prompts answered by name. */
function llmResponder(random: () => number) {
  return (r: { lastUserText: string }) => {
    const delayMs = 200 + Math.floor(random() * 300);
    return r.lastUserText.startsWith("human prompt") ? { text: `reply to: ${r.lastUserText}`, delayMs } : { text: "noted", delayMs };
  };
}

/** Every turn's start and end as a client that asked nothing sees them (the daemon broadcasts all turns). */
async function turnWatcher(url: string): Promise<{ durations: () => number[]; close: () => void }> {
  const socket = new WebSocket(`${url.replace(/^http/, "ws")}/ws`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const starts = new Map<string, number>();
  const durations: number[] = [];
  socket.on("message", (data) => {
    const m = JSON.parse(data.toString()) as ServerMessage;
    if (m.type === "start") starts.set(m.requestId, Date.now());
    if ((m.type === "end" || m.type === "error") && starts.has(m.requestId)) durations.push(Date.now() - starts.get(m.requestId)!);
  });
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  return { durations: () => [...durations], close: () => socket.close() };
}

export async function runDaemonSoak(options: SoakOptions, cleanups: Array<() => unknown>): Promise<SoakReport> {
  const { redis, bus } = await startSoakRedis(cleanups);
  const llm = await startFakeLlm();
  cleanups.push(() => llm.close());
  llm.setResponder(llmResponder(prng(13)));
  const piEnv = createPiEnv({ llmUrl: llm.url });
  cleanups.push(() => piEnv.cleanup());
  const daemon = await startChaosDaemon({ piEnv, redisUrl: redis.url, env: { ...SOAK_BOUNDS, ...options.env } });
  const watcher = await turnWatcher(daemon.url);
  cleanups.push(() => watcher.close());

  const started = Date.now();
  const samples: Sample[] = [];
  const sample = () => takeSample(daemon, bus, started).then((s) => samples.push(s));
  const sampler = setInterval(() => void sample().catch(() => undefined), 5_000);
  cleanups.push(() => clearInterval(sampler));
  const traffic = await drive(options, bus, daemon.url, started);
  const pushEnd = Date.now();
  // Read incrementally: re-reading every request each poll takes seconds once there are thousands.
  const seen = new Set<string>();
  let read = 0;
  const seenAll = () => {
    const requests = llm.chatRequests();
    for (; read < requests.length; read++) if (!isSummaryRequest(requests[read]!)) for (const id of eventIdsIn(requests[read]!.lastUserText)) seen.add(id);
    return traffic.ids.every((id) => seen.has(id));
  };
  await waitFor(seenAll, "every event seen by the LLM", 120_000, 250).catch(() => undefined);
  const drainedAfterMs = Date.now() - pushEnd;
  await sleep(1_000); // anything that would arrive twice arrives
  clearInterval(sampler);
  await sample();
  const daemonAlive = daemon.child.exitCode === null && daemon.child.signalCode === null;
  return {
    ...summarize(traffic, llm.chatRequests(), watcher.durations()),
    samples,
    maxOldestEventAgeMs: Math.max(0, ...samples.map((s) => s.oldestEventAgeMs)),
    drainedAfterMs,
    daemonAlive,
    output: daemon.output(),
  };
}

interface Traffic {
  ids: string[];
  replies: WsReply[];
  failed: string[];
}

/** The producer (bursts every 250 ms) and a human prompt every `promptEveryMs`, until the time is up and every prompt has its outcome. */
async function drive(options: SoakOptions, bus: GatewayBus, url: string, started: number): Promise<Traffic> {
  const traffic: Traffic = { ids: [], replies: [], failed: [] };
  const humans: Array<Promise<unknown>> = [];
  const end = started + options.seconds * 1000;
  const perBurst = Math.max(1, Math.round(options.rate / 4));
  let nextPrompt = started + 1_000;
  for (let n = 0, burst = 0; Date.now() < end; burst += 1) {
    const batch = Array.from({ length: perBurst }, () => `soak-${n++}`);
    await Promise.all(batch.map((id) => bus.pushWithRetry(createEvent("soak.tick", "soak", { id }, { id }))));
    traffic.ids.push(...batch);
    if (Date.now() >= nextPrompt) {
      nextPrompt += options.promptEveryMs;
      const text = `human prompt ${burst}`;
      humans.push(
        wsPrompt(url, text, 60_000)
          .then((reply) => (reply.end === `reply to: ${text}` ? traffic.replies.push(reply) : traffic.failed.push(`${text}: ${JSON.stringify(reply)}`)))
          .catch((error: Error) => traffic.failed.push(`${text}: ${error.message}`)),
      );
    }
    await sleep(Math.max(0, started + (burst + 1) * 250 - Date.now()));
  }
  await Promise.all(humans);
  return traffic;
}

/** Queue depth and oldest event (/api/status), daemon RSS and live heap (/metrics), Redis INFO memory, session file size. */
async function takeSample(daemon: DaemonProcess, bus: GatewayBus, started: number): Promise<Sample> {
  const headers = { authorization: `Bearer ${TOKEN}` };
  const response = await fetch(`${daemon.url}/api/status`, { headers });
  const s = ((await response.json()) as { daemon: DaemonStatus }).daemon;
  const metrics = await (await fetch(`${daemon.url}/metrics`, { headers })).text();
  // 0 until the daemon's first full GC: unknown, not an empty heap.
  const liveHeap = Number(/^pi_gateway_heap_live_bytes (\S+)$/m.exec(metrics)?.[1] ?? Number.NaN) || Number.NaN;
  const redisMemory = Number(/used_memory:(\d+)/.exec(await bus.client.info("memory"))?.[1] ?? Number.NaN);
  let sessionKiB = 0;
  try {
    if (s.sessionFile) sessionKiB = statSync(s.sessionFile).size / 1024;
  } catch {
    // not written yet (pi writes the file after the first reply)
  }
  return {
    atMs: Date.now() - started,
    eventQueue: s.queue.event,
    oldestEventAgeMs: s.load?.oldestEventAgeMs ?? 0,
    rssMiB: rssMiB(daemon.child.pid),
    liveHeapMiB: liveHeap / 1024 / 1024,
    redisMiB: redisMemory / 1024 / 1024,
    sessionKiB,
  };
}

/** How often each event reached the LLM, events per turn, prompt latencies, turn durations. */
function summarize(
  traffic: Traffic,
  requests: FakeLlmRequest[],
  turns: number[],
): Omit<SoakReport, "samples" | "maxOldestEventAgeMs" | "drainedAfterMs" | "daemonAlive" | "output"> {
  const count = new Map<string, number>();
  const perTurn: number[] = [];
  // A compaction's summary request quotes the conversation: not a delivery.
  for (const request of requests.filter((r) => !isSummaryRequest(r))) {
    const inTurn = eventIdsIn(request.lastUserText);
    if (inTurn.length) perTurn.push(inTurn.length);
    for (const id of inTurn) count.set(id, (count.get(id) ?? 0) + 1);
  }
  const latencies = traffic.replies.map((r) => r.latencyMs);
  const { ids } = traffic;
  return {
    pushed: ids.length,
    missing: ids.filter((id) => !count.has(id)).length,
    twice: ids.filter((id) => (count.get(id) ?? 0) > 1).length,
    eventTurns: perTurn.length,
    eventsPerTurn: { mean: perTurn.length ? Math.round((10 * perTurn.reduce((a, b) => a + b, 0)) / perTurn.length) / 10 : 0, max: Math.max(0, ...perTurn) },
    human: {
      answered: traffic.replies.length,
      failed: traffic.failed,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      max: Math.max(0, ...latencies),
    },
    turn: { p50: percentile(turns, 50), p99: percentile(turns, 99) },
  };
}

/** The figure line, and the backlog/memory over time (one line per sample) for the soak's log. */
export function reportSoak(name: string, options: SoakOptions, r: SoakReport): void {
  const first = r.samples.find((s) => s.atMs >= 10_000) ?? r.samples[0];
  const last = r.samples.at(-1);
  const range = (pick: (s: Sample) => number, unit: string) => `${mib(first ? pick(first) : Number.NaN)} -> ${mib(last ? pick(last) : Number.NaN)}${unit}`;
  figure(
    `${name}: ${options.rate} ev/s + a WebSocket prompt every ${seconds(options.promptEveryMs)} for ${options.seconds}s, fake LLM 200-500 ms per turn: ` +
      `${r.pushed} events -> ${r.pushed - r.missing} reached the LLM (${r.missing} missing, ${r.twice} twice) in ${r.eventTurns} turns ` +
      `(${r.eventsPerTurn.mean} events/turn, max ${r.eventsPerTurn.max}); ${r.human.answered}/${r.human.answered + r.human.failed.length} prompts answered, ` +
      `p50 ${r.human.p50} ms p99 ${r.human.p99} ms (turn p50 ${r.turn.p50} ms p99 ${r.turn.p99} ms); oldest waiting event at most ${seconds(r.maxOldestEventAgeMs)}, ` +
      `drained ${seconds(r.drainedAfterMs)} after the last push; daemon RSS ${range((s) => s.rssMiB, " MiB")}, Redis ${range((s) => s.redisMiB, " MiB")}, ` +
      `session file ${range((s) => s.sessionKiB, " KiB")} (from 10 s to the end; largest ${mib(Math.max(0, ...r.samples.map((s) => s.sessionKiB)))} KiB); ` +
      `after ${seconds(WARM_UP_MS)} warm-up: ${judgeMemory(r.samples, options.seconds * 1000)
        .map((v) => `${v.name} ${flatText(v.flatness, v.unit)}`)
        .join(", ")}`,
  );
  for (const s of r.samples) {
    process.stdout.write(
      `  t=${seconds(s.atMs)} event queue ${s.eventQueue} (oldest ${seconds(s.oldestEventAgeMs)}) rss ${mib(s.rssMiB)} MiB live heap ${s.liveHeapMiB.toFixed(1)} MiB redis ${s.redisMiB.toFixed(1)} MiB session ${mib(s.sessionKiB)} KiB\n`,
    );
  }
}
