/**
 * The central under load (issue #17 item 3): the built daemon (the central session, real pi SDK
 * against the fake LLM) fed by paced producer processes (test/fixtures/chaos-producer.ts) at
 * `rate` events/s for `seconds`, after a short quiet phase at a tenth of that rate, so the events
 * per turn of both phases show the batching growing with load.
 *
 * Measured from the LLM's side (the prompts it receives; compaction summaries excluded): events
 * per turn (named one by one, or summed up in a turn's digest), the backlog (events pushed and not
 * yet in a turn, sampled every 500 ms), how long the backlog takes to drain after the producers
 * stop, and the daemon's RSS; and from the daemon's session files, the record of what was
 * delivered: every event in exactly one gateway message. An event the LLM was shown twice, named
 * or summed up, would make the LLM's count exceed the events pushed. Shared by the chaos scenario (central-load.chaos.ts) and the short variant in the
 * default suite (test/daemon/central-load.test.ts).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GatewayBus } from "../../src/bus/bus.js";
import { isSummaryRequest, startFakeLlm, type FakeLlm } from "../helpers/fake-llm.js";
import { createPiEnv } from "../helpers/pi-env.js";
import { eventIdsIn, summedUpIn } from "../helpers/prompt-ids.js";
import { recordedEventMessages } from "../helpers/session-records.js";
import { startRedis } from "../helpers/redis-server.js";
import { sleep, waitFor } from "../helpers/wait.js";
import { startChaosDaemon } from "./daemon-kit.js";
import { cpuSeconds, figure, mib, ROOT, percentile, rssMiB, seconds, spawnFixture, type Child, type ProducerReport } from "./harness.js";

export interface CentralLoadOptions {
  /** Events per second in the loaded phase. */
  rate: number;
  seconds: number;
  producers: number;
  /** The quiet phase before it (a tenth of the rate), seconds; 0 skips it. */
  quietSeconds: number;
  /** The fake LLM's time per turn (ms). */
  llmMs: number;
  /** Redis AOF with appendfsync always. */
  aof: boolean;
  /** Extra daemon environment (GATEWAY_TURN_MAX_EVENTS...). */
  env?: Record<string, string>;
  /**
   * A folder for a CPU profile of the daemon (node --cpu-prof, written when it exits) and Redis's
   * INFO commandstats after the loaded phase (CHAOS_CENTRAL_PROFILE).
   */
  profileDir?: string;
}

export interface PhaseFigures {
  rate: number;
  pushed: number;
  /** Pushed per second, from the producers' first push to their last reply. */
  pushedPerSecond: number;
  /** The producers' slowest p99 push latency (ms): a paced producer falls behind when it grows. */
  pushP99Ms: number;
  turns: number;
  eventsPerTurn: { p50: number; max: number };
}

export interface CentralLoadReport {
  quiet: PhaseFigures | undefined;
  load: PhaseFigures;
  pushed: number;
  /** Not recorded in the daemon's session files / recorded in two gateway messages. */
  missing: number;
  twice: number;
  /** Events the LLM was shown (named or summed up), and those named in two turns. */
  reachedLlm: number;
  namedTwice: number;
  /** Events that reached the LLM per second over the loaded phase (push start to drained). */
  drainedPerSecond: number;
  backlogMax: number;
  /** The most events waiting in the central's bus queue at once (sampled): what GATEWAY_BACKLOG_CAP bounds. */
  busMax: number;
  drainMs: number;
  rss: { before: number; peak: number; after: number };
  /** CPU seconds used over the loaded phase (push start to drained) by the daemon, Redis and the producers. */
  cpu: { daemon: number; redis: number; producers: number };
  deadLettered: number;
  /** Dead letters by reason (the list keeps the newest GATEWAY_DEADLETTER_CAP). */
  deadLetterReasons: Record<string, number>;
  /** Still waiting at the end: in the bus queue, claimed and unacknowledged, event commands. */
  left: { bus: number; inFlight: number; commands: number };
  daemonAlive: boolean;
  /** Set when the daemon was gone before the stop: its exit code or signal. */
  endedBy: string | undefined;
  daemonExit: number | null;
  output: string;
}

/**
 * Counts what the fake LLM was shown, reading only the requests that arrived since the last call:
 * the ids named one by one, and how many events the turns' digests sum up.
 */
function llmLedger(llm: FakeLlm) {
  const count = new Map<string, number>();
  const perTurn: Array<{ at: number; events: number }> = [];
  let read = 0;
  let summed = 0;
  return {
    count,
    perTurn,
    /** Events shown so far, named or summed up. */
    update(): number {
      const requests = llm.chatRequests();
      for (; read < requests.length; read++) {
        const request = requests[read]!;
        if (isSummaryRequest(request)) continue;
        const ids = eventIdsIn(request.lastUserText);
        const more = summedUpIn(request.lastUserText);
        if (ids.length + more) perTurn.push({ at: request.receivedAt, events: ids.length + more });
        summed += more;
        for (const id of ids) count.set(id, (count.get(id) ?? 0) + 1);
      }
      return count.size + summed;
    },
  };
}

const PRODUCER_CONCURRENCY = 2048;

/** Starts `producers` paced producer processes (ids `<prefix><n>-<i>`) at `rate` events/s in all, targeted at the central. */
function startProducers(redisUrl: string, prefix: string, rate: number, secs: number, producers: number): Child[] {
  return Array.from({ length: producers }, (_, n) =>
    spawnFixture(`producer ${prefix}${n}`, "chaos-producer.ts", {
      REDIS_URL: redisUrl,
      ID_PREFIX: `${prefix}${n}`,
      SESSIONS: "gateway",
      RATE: String(rate / producers),
      SECONDS: String(secs),
      // In flight per producer, as a batch producer would keep: with 512 (the fixture's default)
      // they fell behind at 5,000 ev/s whenever a push took over ~200 ms (p99 500-700 ms on the
      // shared 2-core machine), pushing 4,200-4,700 ev/s.
      CONCURRENCY: String(PRODUCER_CONCURRENCY),
    }),
  );
}

async function finished(children: Child[], secs: number): Promise<ProducerReport[]> {
  await Promise.all(children.map((p) => p.waitForLine(/^done /, (secs + 120) * 1000)));
  return children.map((p) => p.last<ProducerReport>("done")!);
}

const pushedBy = (reports: ProducerReport[]) => reports.reduce((sum, r) => sum + r.pushed, 0);
const idsOf = (reports: ProducerReport[]) => reports.flatMap((r) => Array.from({ length: r.pushed }, (_, i) => `${r.idPrefix}-${i}`));

export async function runCentralLoad(options: CentralLoadOptions, cleanups: Array<() => unknown>): Promise<CentralLoadReport> {
  const redis = await startRedis({ aof: options.aof });
  cleanups.push(() => redis.stop());
  const llm = await startFakeLlm({ record: "lean" });
  cleanups.push(() => llm.close());
  llm.setResponder(() => ({ text: "noted", delayMs: options.llmMs }));
  const piEnv = createPiEnv({ llmUrl: llm.url });
  cleanups.push(() => piEnv.cleanup());
  // Empty: the default, events past the first 50 of a turn summed up (daemon-kit names them all).
  // NODE_OPTIONS refuses --cpu-prof: a preloaded module profiles the daemon instead.
  const profile: Record<string, string> = options.profileDir
    ? { NODE_OPTIONS: `--import ${join(ROOT, "test", "fixtures", "cpu-profile.mjs")}`, CPU_PROFILE_DIR: options.profileDir }
    : {};
  const daemon = await startChaosDaemon({ piEnv, redisUrl: redis.url, env: { GATEWAY_TURN_SHOWN_EVENTS: "", ...profile, ...options.env } });
  const ledger = llmLedger(llm);

  // ---- quiet phase
  let quiet: PhaseFigures | undefined;
  if (options.quietSeconds > 0) {
    const rate = Math.max(1, Math.round(options.rate / 10));
    const reports = await finished(startProducers(redis.url, "q", rate, options.quietSeconds, 1), options.quietSeconds);
    const ids = idsOf(reports);
    await waitFor(() => ledger.update() >= ids.length, "the quiet phase drained", 60_000, 100);
    quiet = phase(rate, reports, ledger.perTurn.splice(0));
  }
  const quietIds = ledger.update();

  // ---- loaded phase
  const rssBefore = rssMiB(daemon.child.pid);
  let rssPeak = rssBefore;
  let backlogMax = 0;
  let busMax = 0;
  // Every sample, for a look at where the backlog grew (.tmp/central-load-timeline.json).
  const timeline: Array<{ ms: number; pushed: number; reached: number; bus: number; daemonCpu: number }> = [];
  const watcher = await GatewayBus.connect({ redisUrl: redis.url });
  cleanups.push(() => watcher.close());
  const progress = new Map<string, number>();
  const cpuBefore = { daemon: cpuSeconds(daemon.child.pid), redis: cpuSeconds(redis.pid()) };
  const producers = startProducers(redis.url, "p", options.rate, options.seconds, options.producers);
  const started = Date.now();
  // When the LLM last got more events: the drain rate ends there, not at a wait for events that were dead-lettered.
  let lastProgressAt = started;
  let reachedBefore = 0;
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, rssMiB(daemon.child.pid));
    for (const p of producers) progress.set(p.name, p.last<{ completed: number }>("progress")?.completed ?? 0);
    const pushedSoFar = [...progress.values()].reduce((a, b) => a + b, 0);
    const reached = ledger.update() - quietIds;
    if (reached > reachedBefore) lastProgressAt = Date.now();
    reachedBefore = reached;
    backlogMax = Math.max(backlogMax, pushedSoFar - reached);
    const ms = Date.now() - started;
    void watcher.pending("gateway").then(
      (bus) => {
        busMax = Math.max(busMax, bus);
        timeline.push({ ms, pushed: pushedSoFar, reached, bus, daemonCpu: cpuSeconds(daemon.child.pid) - cpuBefore.daemon });
      },
      () => undefined,
    );
  }, 500);
  cleanups.push(() => clearInterval(sampler));
  const reports = await finished(producers, options.seconds);
  const pushEnd = Date.now();
  const ids = idsOf(reports);
  backlogMax = Math.max(backlogMax, ids.length - (ledger.update() - quietIds));
  await waitFor(() => ledger.update() - quietIds >= ids.length, `all ${ids.length} events in a turn`, 120_000, 100).catch(() => undefined);
  clearInterval(sampler);
  const reachedAll = ledger.update() - quietIds >= ids.length;
  if (reachedAll || ledger.update() - quietIds > reachedBefore) lastProgressAt = Date.now();
  const drainMs = lastProgressAt - pushEnd;
  const drainedPerSecond = (ledger.update() - quietIds) / (Math.max(1, lastProgressAt - started) / 1000);
  const cpu = {
    daemon: cpuSeconds(daemon.child.pid) - cpuBefore.daemon,
    redis: cpuSeconds(redis.pid()) - cpuBefore.redis,
    producers: reports.reduce((sum, r) => sum + (r.cpuSeconds ?? Number.NaN), 0),
  };
  if (options.profileDir) await saveCommandStats(redis.url, join(options.profileDir, "redis-commandstats.txt"));
  await sleep(1_500); // anything that would arrive twice arrives now
  const reachedLlm = ledger.update() - quietIds;
  const rssAfter = rssMiB(daemon.child.pid);
  const { deadLettered, reasons, left } = await leftovers(redis.url);
  const daemonAlive = daemon.child.exitCode === null && daemon.child.signalCode === null;
  // How it ended, when it ended before the stop (an exit code, or the signal that killed it).
  const endedBy = daemonAlive ? undefined : String(daemon.child.signalCode ?? daemon.child.exitCode);
  const daemonExit = await daemon.stop();
  const recorded = recordedEventMessages(join(piEnv.agentDir, "sessions"));
  mkdirSync(join(ROOT, ".tmp"), { recursive: true });
  writeFileSync(join(ROOT, ".tmp", "central-load-daemon.log"), daemon.output());
  writeFileSync(join(ROOT, ".tmp", "central-load-timeline.json"), JSON.stringify(timeline, null, 0).replaceAll("},", "},\n"));
  return {
    quiet,
    load: phase(options.rate, reports, ledger.perTurn),
    pushed: ids.length,
    missing: ids.filter((id) => !recorded.has(id)).length,
    twice: ids.filter((id) => (recorded.get(id) ?? 0) > 1).length,
    reachedLlm,
    namedTwice: [...ledger.count.values()].filter((n) => n > 1).length,
    drainedPerSecond,
    backlogMax,
    busMax,
    drainMs,
    rss: { before: rssBefore, peak: Math.max(rssPeak, rssAfter), after: rssAfter },
    cpu,
    deadLettered,
    deadLetterReasons: reasons,
    left,
    daemonAlive,
    endedBy,
    daemonExit,
    output: daemon.output(),
  };
}

function phase(rate: number, reports: ProducerReport[], turns: Array<{ events: number }>): PhaseFigures {
  const sizes = turns.map((t) => t.events);
  return {
    rate,
    pushed: pushedBy(reports),
    pushedPerSecond: pushedBy(reports) / Math.max(...reports.map((r) => r.seconds)),
    pushP99Ms: Math.max(...reports.map((r) => r.p99LatencyMs)),
    turns: sizes.length,
    eventsPerTurn: { p50: percentile(sizes, 50), max: Math.max(0, ...sizes) },
  };
}

/** Redis's time per command so far (INFO commandstats), for a profile of the loaded phase. */
async function saveCommandStats(redisUrl: string, file: string): Promise<void> {
  const bus = await GatewayBus.connect({ redisUrl });
  try {
    mkdirSync(join(file, ".."), { recursive: true });
    writeFileSync(file, String(await bus.client.info("commandstats")));
  } finally {
    await bus.close();
  }
}

/** Dead letters (the bus's and the command queue's share one list), and what is left in the central's queues. */
async function leftovers(
  redisUrl: string,
): Promise<{ deadLettered: number; reasons: Record<string, number>; left: { bus: number; inFlight: number; commands: number } }> {
  const bus = await GatewayBus.connect({ redisUrl });
  try {
    const reasons: Record<string, number> = {};
    for (const raw of await bus.client.lrange(bus.keys.deadLetters, 0, -1)) {
      const reason = String((JSON.parse(raw) as { reason?: unknown }).reason ?? "?").slice(0, 80);
      reasons[reason] = (reasons[reason] ?? 0) + 1;
    }
    return {
      reasons,
      deadLettered: await bus.client.llen(bus.keys.deadLetters),
      left: {
        bus: await bus.pending("gateway"),
        inFlight: await bus.client.hlen(bus.keys.inflight("gateway")),
        commands: (await bus.commandQueue("gateway").depth()).event,
      },
    };
  } finally {
    await bus.close();
  }
}

export function reportCentralLoad(name: string, options: CentralLoadOptions, r: CentralLoadReport): void {
  const perThousand = (cpuSeconds: number) => Math.round((cpuSeconds * 1e6) / Math.max(1, r.reachedLlm));
  const phaseText = (p: PhaseFigures) =>
    `${p.rate} ev/s target: ${p.pushed} pushed at ${Math.round(p.pushedPerSecond)} ev/s (push p99 ${p.pushP99Ms} ms), ${p.turns} turns, events per turn p50 ${p.eventsPerTurn.p50} max ${p.eventsPerTurn.max}`;
  figure(
    `${name}: the daemon's central (real pi SDK, fake LLM ${options.llmMs} ms per turn${options.aof ? ", AOF always" : ""}) fed by ${options.producers} producers for ${options.seconds}s: ` +
      `${r.quiet ? `quiet phase ${phaseText(r.quiet)}; ` : ""}load ${phaseText(r.load)}; ` +
      `${r.reachedLlm}/${r.pushed} reached the LLM (${r.namedTwice} named twice), ${r.pushed - r.missing}/${r.pushed} recorded in the session (${r.missing} lost, ${r.twice} twice, ${r.deadLettered} dead-lettered${r.deadLettered ? ` ${JSON.stringify(r.deadLetterReasons)}` : ""}; left: ${r.left.bus} in the bus queue, ${r.left.inFlight} in flight, ${r.left.commands} event commands), ` +
      `${Math.round(r.drainedPerSecond)} ev/s drained, backlog max ${r.backlogMax} events (bus queue max ${r.busMax}), drained ${seconds(r.drainMs)} after the producers stopped; ` +
      `daemon RSS ${mib(r.rss.before)} -> ${mib(r.rss.after)} MiB (peak ${mib(r.rss.peak)}); ` +
      `CPU per 1,000 events: daemon ${perThousand(r.cpu.daemon)}, Redis ${perThousand(r.cpu.redis)}, producers ${perThousand(r.cpu.producers)} ms`,
  );
}
