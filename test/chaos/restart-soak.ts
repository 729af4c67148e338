/**
 * THE RESTART SOAK (issue #17 item 5): steady load through the daemon AND through an interactive pi
 * with the extension, while Redis (AOF, fsync always) is stopped and started again and the daemon is
 * restarted (SIGTERM and SIGKILL, in turn). Shared by the 2-minute chaos scenario
 * (restart-soak.chaos.ts) and `npm run soak -- --minutes N` (scripts/soak.mjs).
 *
 * - The daemon (built, real pi SDK, the central `gateway`) gets every event; a real pi in rpc mode
 *   with the built extension (durable satellite `soak-pi`) gets the events that target it too.
 * - Each has its own fake LLM keeping only counts (`record: "counts"`): the event ids each request
 *   names are counted as it arrives, so a 30-minute run does not keep every conversation.
 * - Every 5 s: RSS, heap and open file descriptors of the daemon, live heap (as the extension
 *   publishes it in the pi's session record), RSS and descriptors of the pi, Redis DBSIZE and
 *   used_memory; printed at the start and every minute.
 * - The verdict: every event reached each LLM it was for, and each session file records it once
 *   (a distinct gateway message); no figure grows beyond the rule of soak-growth.ts.
 */
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import { createEvent } from "../../src/protocol/event.js";
import type { DaemonProcess } from "../helpers/daemon.js";
import { startExtensionPi } from "../helpers/extension-pi.js";
import { isSummaryRequest, startFakeLlm, type FakeLlm } from "../helpers/fake-llm.js";
import { createPiEnv } from "../helpers/pi-env.js";
import { eventIdsIn } from "../helpers/prompt-ids.js";
import { recordedEventMessages } from "../helpers/session-records.js";
import { sleep, waitFor } from "../helpers/wait.js";
import { startChaosDaemon, TOKEN } from "./daemon-kit.js";
import { SOAK_BOUNDS, startSoakRedis } from "./daemon-soak.js";
import { figure, openFds, rssMiB, seconds } from "./harness.js";
import { growthRule, growthWindows, judgeGrowth, verdictText, type GrowthFigure, type GrowthSample, type GrowthVerdict, type Restart } from "./soak-growth.js";

export const PI_ID = "soak-pi";

export interface RestartSoakOptions {
  seconds: number;
  /** Events per second for the daemon alone (untargeted). */
  daemonRate: number;
  /** Events per second that target the pi (the daemon, central, gets them too). */
  piRate: number;
  redisRestartEveryMs: number;
  daemonRestartEveryMs: number;
  /** How long Redis stays down at each restart. */
  redisDownMs: number;
  /** A figure line every this often (and at the start). */
  reportEveryMs: number;
}

/** A daemon started again reaches its steady heap in a minute or two (its session loaded, a backlog drained). */
const DAEMON_SETTLE_MS = 90_000;

/**
 * What a pi's live heap may grow by per event delivered to it: pi keeps every entry of its session
 * in memory (the entry and the agent's message, sharing one details object). Measured side by side
 * on one fake LLM, one event a turn, a full GC before each reading (README, "Soak with restarts"):
 * an extension pi keeps 1.7–3.0 KiB per event turn, a plain pi 0.75–0.95 KiB per prompt of the same
 * text (the rest is the gateway message's details); the extension itself keeps nothing that grows
 * but its capped record of delivered ids.
 */
export const PI_HEAP_KIB_PER_EVENT = 4;

export const FIGURES: GrowthFigure[] = [
  {
    key: "daemonRss",
    name: "daemon RSS",
    unit: "MiB",
    settleMs: DAEMON_SETTLE_MS,
    reportedWhileFlat: {
      key: "daemonHeap",
      why: "RSS also holds garbage not yet collected (a 160-350 MiB sawtooth around a flat live heap: a window's lowest sample says how much garbage was left then, not what is kept)",
    },
  },
  { key: "daemonHeap", name: "daemon live heap", unit: "MiB", settleMs: DAEMON_SETTLE_MS },
  { key: "daemonFds", name: "daemon fds", unit: "", slack: 2 },
  {
    key: "piHeap",
    name: "pi live heap",
    unit: "MiB",
    allowance: { key: "piEvents", each: PI_HEAP_KIB_PER_EVENT / 1024, per: "pi event" },
    firstReadingAfter: "the pi's first full GC",
  },
  {
    key: "piRss",
    name: "pi RSS",
    unit: "MiB",
    reportedWhileFlat: {
      key: "piHeap",
      why: "RSS also holds garbage not yet collected, more of it as pi sends its whole conversation every turn (after a full GC a pi's RSS stayed at 147-165 MiB over 1,500 turns, with the extension or not)",
    },
  },
  { key: "piFds", name: "pi fds", unit: "", slack: 2 },
  { key: "redisKeys", name: "Redis keys", unit: "" },
  { key: "redisMiB", name: "Redis used_memory", unit: "MiB" },
];

export interface Tally {
  /** Pushed ids. */
  ids: string[];
  /** Ids not seen / seen more than once. */
  missing: string[];
  twice: string[];
}

export interface RestartSoakReport {
  options: RestartSoakOptions;
  pushed: number;
  restarts: { redis: number; term: number; kill: number; failed: string[] };
  daemonLlm: Tally;
  daemonSession: Tally;
  piLlm: Tally;
  piSession: Tally;
  drainedAfterMs: number;
  samples: GrowthSample[];
  growth: GrowthVerdict[];
  rule: string;
  ok: boolean;
}

const MiB = 1024 * 1024;

/** Every event id a fake LLM's requests name, counted as they arrive (summary requests quote, they do not deliver). */
function countIds(llm: FakeLlm): Map<string, number> {
  const counts = new Map<string, number>();
  llm.observe((r) => {
    if (isSummaryRequest(r)) return;
    for (const id of eventIdsIn(r.lastUserText)) counts.set(id, (counts.get(id) ?? 0) + 1);
  });
  return counts;
}

function tally(ids: string[], counts: Map<string, number>): Tally {
  return { ids, missing: ids.filter((id) => !counts.has(id)), twice: ids.filter((id) => (counts.get(id) ?? 0) > 1) };
}

/**
 * The daemon's live heap: V8's heap right after its latest full GC (/metrics
 * `pi_gateway_heap_live_bytes`; the heap in use swings with garbage not yet collected, soak-memory.ts).
 * NaN when unknown: before the process's first full GC (0), or when it does not answer.
 */
async function daemonLiveHeapMiB(url: string): Promise<number> {
  try {
    const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: AbortSignal.timeout(2_000) })).text();
    return Number(/^pi_gateway_heap_live_bytes (\S+)$/m.exec(text)?.[1] ?? Number.NaN) / MiB || Number.NaN;
  } catch {
    return Number.NaN;
  }
}

export async function runRestartSoak(options: RestartSoakOptions, cleanups: Array<() => unknown>, log: (line: string) => void): Promise<RestartSoakReport> {
  const { redis, bus } = await startSoakRedis(cleanups);
  const daemonLlm = await startFakeLlm({ record: "counts" });
  cleanups.push(() => daemonLlm.close());
  const piLlm = await startFakeLlm({ record: "counts" });
  cleanups.push(() => piLlm.close());
  daemonLlm.setResponder(() => ({ text: "noted", delayMs: 150 }));
  piLlm.setResponder(() => ({ text: "noted", delayMs: 100 }));
  const daemonSeen = countIds(daemonLlm);
  const piSeen = countIds(piLlm);

  const daemonEnv = createPiEnv({ llmUrl: daemonLlm.url });
  cleanups.push(() => daemonEnv.cleanup());
  const startDaemon = () => startChaosDaemon({ piEnv: daemonEnv, redisUrl: redis.url, env: { ...SOAK_BOUNDS } });
  let daemon: DaemonProcess | undefined = await startDaemon();
  cleanups.push(() => daemon?.kill());
  const pi = await startExtensionPi(
    { llm: piLlm, redis },
    cleanups as Array<() => Promise<void> | void>,
    { GATEWAY_ID: PI_ID, GATEWAY_DEDUP_MAX: SOAK_BOUNDS.GATEWAY_DEDUP_MAX, GATEWAY_JOURNAL_CAP: SOAK_BOUNDS.GATEWAY_JOURNAL_CAP },
    "10s",
  );
  const piPid = (pi.client as unknown as { process: ChildProcess | null }).process?.pid;
  await waitFor(async () => (await bus.sessions()).some((s) => s.id === PI_ID && s.live), "the pi registered", 20_000);

  const started = Date.now();
  const at = () => Date.now() - started;
  const samples: GrowthSample[] = [];
  const restartsAt: Restart[] = [];
  const restarts = { redis: 0, term: 0, kill: 0, failed: [] as string[] };
  let redisUp = true;

  const sample = async (): Promise<GrowthSample> => {
    const d = daemon;
    const [keys, memory, sessions] = redisUp
      ? await Promise.all([bus.client.dbsize(), bus.client.info("memory"), bus.sessions()]).catch(() => [Number.NaN, "", []] as const)
      : ([Number.NaN, "", []] as const);
    // The pi's live heap as its extension published it at its latest presence tick (absent before its first full GC).
    const piLiveHeap = sessions.find((s) => s.id === PI_ID)?.memory?.liveHeap;
    // The rpc client keeps every event pi prints; the soak reads none of them.
    pi.events.splice(0);
    return {
      atMs: at(),
      values: {
        daemonRss: rssMiB(d?.child.pid),
        daemonHeap: d ? await daemonLiveHeapMiB(d.url) : Number.NaN,
        daemonFds: openFds(d?.child.pid),
        piHeap: piLiveHeap !== undefined ? piLiveHeap / MiB : Number.NaN,
        piEvents: piSeen.size,
        piRss: rssMiB(piPid),
        piFds: openFds(piPid),
        redisKeys: Number(keys),
        redisMiB: Number(/used_memory:(\d+)/.exec(String(memory))?.[1] ?? Number.NaN) / MiB,
      },
    };
  };
  const pushed = { daemon: [] as string[], pi: [] as string[] };
  const line = (s: GrowthSample) => {
    const v = s.values;
    const n = (x: number | undefined, digits = 0) => (x !== undefined && Number.isFinite(x) ? x.toFixed(digits) : "?");
    log(
      `  t=${seconds(s.atMs)} daemon rss ${n(v.daemonRss)} MiB live heap ${n(v.daemonHeap, 1)} MiB fds ${n(v.daemonFds)} | pi live heap ${n(v.piHeap, 1)} MiB rss ${n(v.piRss)} MiB fds ${n(v.piFds)} | ` +
        `redis keys ${n(v.redisKeys)} used_memory ${n(v.redisMiB, 1)} MiB | pushed ${pushed.daemon.length + pushed.pi.length}, ` +
        `daemon LLM saw ${daemonSeen.size}, pi LLM saw ${piSeen.size} | restarts redis ${restarts.redis}, daemon ${restarts.term} TERM ${restarts.kill} KILL`,
    );
  };
  const first = await sample();
  samples.push(first);
  line(first);
  let nextReport = options.reportEveryMs;
  let sampling = Promise.resolve();
  const sampler = setInterval(() => {
    sampling = sampling.then(async () => {
      const s = await sample();
      samples.push(s);
      if (s.atMs >= nextReport) {
        nextReport += options.reportEveryMs;
        line(s);
      }
    });
  }, 5_000);
  cleanups.push(() => clearInterval(sampler));

  // Restarts run beside the load, at fixed times: Redis at every/2 + k*every, the daemon at k*every (TERM, KILL, ...).
  const restarter = (async () => {
    const end = options.seconds * 1000;
    const plan: Array<{ atMs: number; what: "redis" | "daemon" }> = [];
    for (let t = options.redisRestartEveryMs / 2; t < end; t += options.redisRestartEveryMs) plan.push({ atMs: t, what: "redis" });
    for (let t = options.daemonRestartEveryMs; t < end; t += options.daemonRestartEveryMs) plan.push({ atMs: t, what: "daemon" });
    plan.sort((a, b) => a.atMs - b.atMs);
    let daemonRestarts = 0;
    for (const step of plan) {
      await sleep(Math.max(0, step.atMs - at()));
      restartsAt.push({ atMs: at(), what: step.what });
      try {
        if (step.what === "redis") {
          redisUp = false;
          await redis.kill("SIGTERM");
          await sleep(options.redisDownMs);
          await redis.restart();
          redisUp = true;
          restarts.redis += 1;
          log(`  t=${seconds(at())} Redis stopped (SIGTERM) for ${seconds(options.redisDownMs)} and started again`);
        } else {
          const kill = daemonRestarts++ % 2 === 1;
          const old = daemon;
          daemon = undefined;
          if (kill) await old?.kill();
          else await old?.stop();
          daemon = await startDaemon();
          restarts[kill ? "kill" : "term"] += 1;
          log(`  t=${seconds(at())} daemon restarted after ${kill ? "SIGKILL" : "SIGTERM"}`);
        }
      } catch (error) {
        restarts.failed.push(`${step.what} at ${seconds(step.atMs)}: ${(error as Error).message.slice(0, 300)}`);
        redisUp = true;
        daemon ??= await startDaemon().catch(() => undefined);
      }
    }
  })();

  // The producer: a burst every 250 ms; events for the pi target it (the central daemon gets them too).
  let piDue = 0;
  for (let burst = 0, n = 0; at() < options.seconds * 1000; burst += 1) {
    const batch: Array<Promise<unknown>> = [];
    for (let i = 0; i < Math.max(1, Math.round(options.daemonRate / 4)); i++) {
      const id = `d-${n++}`;
      batch.push(bus.pushWithRetry(createEvent("soak.tick", "soak", { n }, { id }), {}, 60_000).then(() => pushed.daemon.push(id)));
    }
    for (piDue += options.piRate / 4; piDue >= 1; piDue -= 1) {
      const id = `p-${n++}`;
      batch.push(bus.pushWithRetry(createEvent("soak.tick", "soak", { n }, { id, target: PI_ID }), {}, 60_000).then(() => pushed.pi.push(id)));
    }
    await Promise.all(batch);
    await sleep(Math.max(0, started + (burst + 1) * 250 - Date.now()));
  }
  const loadEnd = Date.now();
  await restarter;
  const all = [...pushed.daemon, ...pushed.pi];
  await waitFor(() => all.every((id) => daemonSeen.has(id)) && pushed.pi.every((id) => piSeen.has(id)), "every event seen", 180_000, 500).catch(
    () => undefined,
  );
  const drainedAfterMs = Date.now() - loadEnd;
  await sleep(2_000); // anything that would arrive twice arrives
  clearInterval(sampler);
  await sampling;
  const last = await sample();
  samples.push(last);
  line(last);

  const windows = growthWindows(options.seconds * 1000, restartsAt);
  const growth = judgeGrowth(samples, FIGURES, windows);
  const report: RestartSoakReport = {
    options,
    pushed: all.length,
    restarts,
    daemonLlm: tally(all, daemonSeen),
    daemonSession: tally(all, recordedEventMessages(join(daemonEnv.agentDir, "sessions"))),
    piLlm: tally(pushed.pi, piSeen),
    piSession: tally(pushed.pi, recordedEventMessages(join(pi.piEnv.agentDir, "sessions"))),
    drainedAfterMs,
    samples,
    growth,
    rule: growthRule(windows, FIGURES),
    ok: false,
  };
  report.ok =
    restarts.failed.length === 0 &&
    [report.daemonLlm, report.daemonSession, report.piLlm, report.piSession].every((t) => t.missing.length === 0 && t.twice.length === 0) &&
    growth.every((v) => v.ok);
  return report;
}

/** The figure line. */
export function reportRestartSoak(name: string, r: RestartSoakReport): void {
  const o = r.options;
  const t = (x: Tally) => `${x.ids.length - x.missing.length}/${x.ids.length} (${x.missing.length} missing, ${x.twice.length} twice)`;
  figure(
    `${name}: ${o.seconds}s of ${o.daemonRate} ev/s to the daemon + ${o.piRate} ev/s to an extension pi, Redis (AOF) restarted ${r.restarts.redis}x, ` +
      `daemon restarted ${r.restarts.term}x after SIGTERM and ${r.restarts.kill}x after SIGKILL${r.restarts.failed.length ? ` (${r.restarts.failed.length} restarts FAILED)` : ""}: ` +
      `${r.pushed} events; daemon LLM ${t(r.daemonLlm)}, daemon session ${t(r.daemonSession)}; pi LLM ${t(r.piLlm)}, pi session ${t(r.piSession)}; ` +
      `drained ${seconds(r.drainedAfterMs)} after the last push; ${r.growth.map(verdictText).join(", ")} (${r.rule}): ${r.ok ? "PASS" : "FAIL"}`,
  );
}
