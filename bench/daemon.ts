/**
 * The tier-4 daemon, two ways, side by side in one run:
 *
 * 1. Throughput of the durable command queue alone (src/daemon/command-queue.ts on src/bus/command-queue.ts) on the bench's
 *    private Redis: N commands submitted by several concurrent submitters sharing one connection
 *    (as the daemon's channels share its client), then taken and completed one at a time by one
 *    consumer (as the daemon's loop does). Baseline on the same Redis with the same N and payload:
 *    a plain LPUSH/RPOP list (no dedup, nothing kept while in flight), the two alternating over a few
 *    rounds (median ratio). The ratio is the price of durability + dedup. The Redis runs WITHOUT
 *    AOF, so no fsync is included in either.
 *
 * 2. Channel round trips through the real daemon: the built `pi-gateway daemon` as a child process
 *    with the real pi SDK embedded, the fake LLM answering a short text at once, the fake Telegram
 *    API and one WebSocket client. Sequential round trips: WebSocket prompt -> first `delta` and
 *    `end`; Telegram message injected into the fake -> the bot's final (HTML) reply arriving at the
 *    fake API, including the long-poll pickup. Telegram rounds alternate: a message into a chat
 *    quiet for a second (a person reading the last reply before writing), and one sent the moment
 *    the previous reply arrived, whose reply waits out Telegram's one message a second per chat
 *    (the channel keeps that pacing on purpose).
 */
import { readdirSync, readFileSync } from "node:fs";
import { Redis } from "ioredis";
import { WebSocket } from "ws";
import { GatewayBus } from "../src/bus/bus.js";
import { DEFAULT_BUS_OPTIONS } from "../src/config/bus-options.js";
import { CommandQueue } from "../src/daemon/command-queue.js";
import type { InboundMessage } from "../src/daemon/types.js";
import type { ServerMessage } from "../src/daemon/ws-protocol.js";
import { startDaemon, type DaemonProcess } from "../test/helpers/daemon.js";
import { startFakeLlm, type FakeLlm } from "../test/helpers/fake-llm.js";
import { startFakeTelegram, type ApiCall, type FakeTelegram } from "../test/helpers/fake-telegram.js";
import { createPiEnv, type PiEnv } from "../test/helpers/pi-env.js";
import { sleep, waitFor } from "../test/helpers/wait.js";
import { defineSection } from "./section.js";
import { fmt, interleaved, nowMs, round, summarize, table, type Summary } from "./stats.js";

const TOKEN = "bench-daemon-token-0123456789abcdef";
const OWNER = 111;
const WARMUPS = 3;
const ROUND_TIMEOUT_MS = 10_000;
/** Rounds of the command queue against the naive list, alternating. */
const QUEUE_ROUNDS = 3;

interface Throughput extends Record<string, unknown> {
  submitMs: number;
  drainMs: number;
  submitPerSec: number;
  takeCompletePerSec: number;
  endToEndPerSec: number;
}

interface DaemonResult extends Record<string, unknown> {
  config: { queueCommands: number; submitters: number; rounds: number; warmups: number; redisAof: false; llmReply: string };
  queue: { durable: Throughput; naive: Throughput; durableOverNaive: number; roundRatios: number[] };
  daemonStartMs: number;
  websocket: { queued: Summary; start: Summary; llmRequest: Summary; firstDelta: Summary; end: Summary; slowest: WsSample; over250ms: number };
  telegram: { typing: Summary; llmRequest: Summary; preview: Summary; final: Summary; slowest: TgSample; over250ms: number };
  /** Messages sent the moment the previous reply arrived: the reply waits for the chat's pacing. */
  telegramAfterReply: { typing: Summary; final: Summary };
}

export const daemonSection = defineSection<DaemonResult>({
  name: "daemon",
  description: "tier-4 daemon: durable command queue throughput, WebSocket and Telegram round trips",
  async run(ctx) {
    const queueCommands = Number(process.env.BENCH_QUEUE_COMMANDS ?? "5000");
    const submitters = Number(process.env.BENCH_QUEUE_SUBMITTERS ?? "8");
    const rounds = Number(process.env.BENCH_DAEMON_ROUNDS ?? "30");
    const server = await ctx.redis();

    const queue = await benchQueue(server.url, queueCommands, submitters);
    ctx.log(`daemon: queue ${fmt(queue.durable.endToEndPerSec, 0)} commands/s end to end (naive list ${fmt(queue.naive.endToEndPerSec, 0)}/s)`);

    const redis = new Redis(server.url);
    let llm: FakeLlm | undefined;
    let telegram: FakeTelegram | undefined;
    let piEnv: PiEnv | undefined;
    let daemon: DaemonProcess | undefined;
    let socket: WebSocket | undefined;
    try {
      await redis.flushall();
      llm = await startFakeLlm();
      // Short reply, no delays: "pong <marker>" streams as two deltas.
      llm.setResponder((r) => ({ text: `pong ${/\bb(?:ws|tg)\d{4}\b/.exec(r.lastUserText)?.[0] ?? "?"}` }));
      telegram = await startFakeTelegram();
      piEnv = createPiEnv({ llmUrl: llm.url });
      const t0 = nowMs();
      daemon = await launchDaemon(
        {
          ...piEnv.env,
          REDIS_URL: server.url,
          GATEWAY_TOKEN: TOKEN,
          TELEGRAM_BOT_TOKEN: telegram.token,
          TELEGRAM_API_ROOT: telegram.apiRoot,
          TELEGRAM_ALLOWED_USERS: String(OWNER),
          GATEWAY_LOG_LEVEL: "warn",
        },
        piEnv.cwd,
      );
      const daemonStartMs = nowMs() - t0;
      ctx.log(`daemon: started in ${fmt(daemonStartMs, 0)} ms`);

      const ws = await connect(daemon.url);
      socket = ws.socket;
      const wsSamples: WsSample[] = [];
      for (let i = 0; i < rounds + WARMUPS; i++) {
        const sample = await wsRound(ws, llm, `bws${String(i).padStart(4, "0")}`);
        if (i >= WARMUPS) wsSamples.push(sample);
      }
      ctx.log(`daemon: ${wsSamples.length} WebSocket round trips measured`);

      const fake = telegram;
      await waitFor(() => fake.polling, "the daemon's Telegram long poll", 10_000, 5);
      const tgSamples: TgSample[] = [];
      const tgAfterReply: TgSample[] = [];
      for (let i = 0; i < rounds + WARMUPS; i++) {
        const quiet = await telegramRound(fake, llm, `btg${String(2 * i).padStart(4, "0")}`, "quiet");
        const after = await telegramRound(fake, llm, `btg${String(2 * i + 1).padStart(4, "0")}`, "after-reply");
        if (i < WARMUPS) continue;
        tgSamples.push(quiet);
        tgAfterReply.push(after);
      }
      ctx.log(`daemon: ${tgSamples.length} + ${tgAfterReply.length} Telegram round trips measured`);

      const pick = <T>(samples: T[], key: keyof T) => summarize(samples.map((s) => s[key] as number).filter(Number.isFinite));
      return {
        config: { queueCommands, submitters, rounds, warmups: WARMUPS, redisAof: false, llmReply: "pong <marker> (2 deltas, no delay)" },
        queue,
        daemonStartMs: round(daemonStartMs, 1),
        websocket: {
          queued: pick(wsSamples, "queued"),
          start: pick(wsSamples, "start"),
          llmRequest: pick(wsSamples, "llmRequest"),
          firstDelta: pick(wsSamples, "firstDelta"),
          end: pick(wsSamples, "end"),
          slowest: slowest(wsSamples, "end"),
          over250ms: wsSamples.filter((s) => s.end > 250).length,
        },
        telegram: {
          typing: pick(tgSamples, "typing"),
          llmRequest: pick(tgSamples, "llmRequest"),
          preview: pick(tgSamples, "preview"),
          final: pick(tgSamples, "final"),
          slowest: slowest(tgSamples, "final"),
          over250ms: tgSamples.filter((s) => s.final > 250).length,
        },
        telegramAfterReply: { typing: pick(tgAfterReply, "typing"), final: pick(tgAfterReply, "final") },
      };
    } catch (error) {
      const output = daemon?.output().trim();
      if (output) ctx.log(`daemon output (tail):\n${output.slice(-2000)}`);
      throw error;
    } finally {
      socket?.terminate();
      await daemon?.kill().catch(() => undefined);
      await telegram?.close().catch(() => undefined);
      await llm?.close().catch(() => undefined);
      piEnv?.cleanup();
      redis.disconnect();
    }
  },
  render(result) {
    const q = result.queue;
    const qrow = (label: string, t: Throughput) => [label, fmt(t.submitPerSec, 0), fmt(t.takeCompletePerSec, 0), fmt(t.endToEndPerSec, 0)];
    const lrow = (label: string, s: Summary) => [label, String(s.count), fmt(s.p50), fmt(s.p90), fmt(s.p99), fmt(s.max)];
    const p50 = (s: Summary) => fmt(s.p50);
    const ws = result.websocket;
    const tg = result.telegram;
    const c = result.config;
    return [
      `command queue alone: ${fmt(c.queueCommands)} commands, ${c.submitters} concurrent submitters on one connection, then one consumer taking + completing one at a time; private Redis WITHOUT AOF (no fsync)`,
      table(
        ["approach", "submit/s", "take+complete/s", "end-to-end cmd/s"],
        [qrow("CommandQueue (Lua dedup + stream, group, ack+del)", q.durable), qrow("naive LPUSH / RPOP list", q.naive)],
      ),
      `durable end-to-end / naive end-to-end: ${q.durableOverNaive}x, median of ${q.roundRatios.length} alternating rounds (${q.roundRatios.join(", ")}; the price of durability + dedup)`,
      "",
      `round trips through the daemon (child process, real pi SDK, fake LLM replying "pong <marker>" at once), ${c.rounds} each after ${c.warmups} warm-ups, sequential; daemon start ${fmt(result.daemonStartMs, 0)} ms`,
      table(
        ["path", "rounds", "p50 ms", "p90 ms", "p99 ms", "max ms"],
        [
          lrow("WebSocket prompt -> first delta", ws.firstDelta),
          lrow("WebSocket prompt -> end", ws.end),
          lrow("Telegram message -> final reply (incl. long-poll pickup)", tg.final),
          lrow("  the same, sent the moment the last reply arrived", result.telegramAfterReply.final),
        ],
      ),
      "",
      "where the time goes (p50 ms since the prompt / the injected message)",
      table(
        ["path", "queued", "turn start", "LLM request", "first delta / preview", "end / final"],
        [
          ["WebSocket", p50(ws.queued), p50(ws.start), p50(ws.llmRequest), p50(ws.firstDelta), p50(ws.end)],
          ["Telegram", "-", p50(tg.typing), p50(tg.llmRequest), p50(tg.preview), p50(tg.final)],
        ],
      ),
      'Telegram (into a chat quiet for a second): "turn start" = the typing indicator call, "first delta / preview" = a plain-text preview sendMessage (none when the answer is done within the 1 s preview interval), "final" = the HTML message or edit arriving at the fake API (1 ms clock).',
      `Telegram sent the moment the last reply arrived: typing p50 ${p50(result.telegramAfterReply.typing)} ms, final p50 ${p50(result.telegramAfterReply.final)} ms (the reply waits out the chat's one message a second).`,
      `rounds over 250 ms: WebSocket ${ws.over250ms} of ${ws.end.count}, Telegram ${tg.over250ms} of ${tg.final.count}`,
      `slowest WebSocket round (ms): ${describe(ws.slowest)}`,
      `slowest Telegram round (ms):  ${describe(tg.slowest)}`,
    ].join("\n");
  },
});

/** The sample with the largest `key`, rounded (where an outlier's time went). */
function slowest<T extends object>(samples: T[], key: keyof T): T {
  const worst = samples.reduce((a, b) => ((b[key] as number) > (a[key] as number) ? b : a));
  return Object.fromEntries(Object.entries(worst).map(([k, v]) => [k, round(v as number, 2)])) as T;
}

function describe(sample: object): string {
  return Object.entries(sample)
    .map(([k, v]) => `${k} ${fmt(v as number)}`)
    .join(", ");
}

// ---------------------------------------------------------------------------------------------
// 1. the command queue alone
// ---------------------------------------------------------------------------------------------

function command(i: number): InboundMessage {
  return {
    id: `bench:${i}`,
    channel: "bench",
    text: `bench command ${i}: what is the status of the nightly build, and did anything fail?`,
    priority: "human",
    replyTo: { channel: "bench", to: "chat-1" },
    meta: { from: "bench" },
  };
}

/** Runs `submit(i)` for i in [0, n) from `concurrency` loops, each waiting for its previous call. */
async function submitAll(n: number, concurrency: number, submit: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < n; i = next++) await submit(i);
    }),
  );
}

function throughput(n: number, submitMs: number, drainMs: number): Throughput {
  return {
    submitMs: round(submitMs, 1),
    drainMs: round(drainMs, 1),
    submitPerSec: round((n / submitMs) * 1000, 0),
    takeCompletePerSec: round((n / drainMs) * 1000, 0),
    endToEndPerSec: round((n / (submitMs + drainMs)) * 1000, 0),
  };
}

async function durableQueue(redis: Redis, n: number, submitters: number): Promise<Throughput> {
  await redis.flushall();
  // The bus over the bench's connection, as the daemon builds its queue: the bus's store, the policy on top.
  const bus = new GatewayBus(redis, { ...DEFAULT_BUS_OPTIONS, prefix: "bench", dedupWindowMs: 86_400_000, deadLetterCap: 10_000, journalCap: 10_000 });
  // One bench client submits all n: the per-client/channel prompt caps (a daemon's defense) would refuse it past 20.
  const queue = new CommandQueue(bus.commandQueue("gateway"), { agingMs: 60_000, collectWindowMs: 2_000, promptsPerClient: n, promptsPerChannel: n });
  await queue.init();
  let t = nowMs();
  await submitAll(n, submitters, async (i) => {
    if ((await queue.submit(command(i))) !== "queued") throw new Error(`command ${i} was taken for a duplicate`);
  });
  const submitMs = nowMs() - t;
  t = nowMs();
  let taken = 0;
  for (let c = await queue.take(); c; c = await queue.take()) {
    await queue.complete(c);
    taken++;
  }
  const drainMs = nowMs() - t;
  const depth = await queue.depth();
  if (taken !== n || depth.human + depth.event + depth.heartbeat !== 0) throw new Error(`queue: took ${taken} of ${n}, ${JSON.stringify(depth)} left`);
  return throughput(n, submitMs, drainMs);
}

async function naiveList(redis: Redis, n: number, submitters: number): Promise<Throughput> {
  await redis.flushall();
  const key = "bench:naive";
  let t = nowMs();
  await submitAll(n, submitters, async (i) => {
    await redis.lpush(key, JSON.stringify(command(i)));
  });
  const submitMs = nowMs() - t;
  t = nowMs();
  let taken = 0;
  for (let raw = await redis.rpop(key); raw !== null; raw = await redis.rpop(key)) {
    JSON.parse(raw);
    taken++;
  }
  const drainMs = nowMs() - t;
  if (taken !== n) throw new Error(`naive list: took ${taken} of ${n}`);
  return throughput(n, submitMs, drainMs);
}

async function benchQueue(url: string, n: number, submitters: number): Promise<DaemonResult["queue"]> {
  const redis = new Redis(url);
  try {
    // Warm up the JIT, the Lua script cache and the connection on both paths.
    await durableQueue(redis, Math.min(n, 300), submitters);
    await naiveList(redis, Math.min(n, 300), submitters);
    // QUEUE_ROUNDS rounds, the two alternately (a noisy moment hits both alike); the round with the
    // median ratio is reported, with every round's ratio.
    const runs: Array<{ durable?: Throughput; naive?: Throughput }> = Array.from({ length: QUEUE_ROUNDS }, () => ({}));
    await interleaved(QUEUE_ROUNDS, {
      durable: async (i) => (runs[i]!.durable = await durableQueue(redis, n, submitters)).endToEndPerSec,
      naive: async (i) => (runs[i]!.naive = await naiveList(redis, n, submitters)).endToEndPerSec,
    });
    await redis.flushall();
    const rounds = runs.map(({ durable, naive }) => ({ durable: durable!, naive: naive!, ratio: round(durable!.endToEndPerSec / naive!.endToEndPerSec, 2) }));
    const median = [...rounds].sort((a, b) => a.ratio - b.ratio)[Math.floor(rounds.length / 2)]!;
    return { durable: median.durable, naive: median.naive, durableOverNaive: median.ratio, roundRatios: rounds.map((r) => r.ratio) };
  } finally {
    redis.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------
// 2. round trips through the daemon
// ---------------------------------------------------------------------------------------------

/** startDaemon, but a daemon that never says "listening" is not left running. */
async function launchDaemon(env: Record<string, string>, cwd: string): Promise<DaemonProcess> {
  try {
    return await startDaemon(env, ["--cwd", cwd], 20_000);
  } catch (error) {
    // startDaemon gives no handle when it times out: kill our own child running the CLI, by pid.
    for (const pid of childPidsRunning("pi-gateway.js")) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    throw error;
  }
}

function childPidsRunning(needle: string): number[] {
  const pids: number[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync("/proc").filter((e) => /^\d+$/.test(e));
  } catch {
    return pids; // no procfs
  }
  for (const entry of entries) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === process.pid && readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(needle)) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

interface WsClient {
  socket: WebSocket;
  /** The handler of the round in progress; gets each frame with its arrival time. */
  onMessage?: (message: ServerMessage, at: number) => void;
}

async function connect(url: string): Promise<WsClient> {
  const socket = new WebSocket(`${url.replace(/^http/, "ws")}/ws`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const client: WsClient = { socket };
  const hello = new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.on("message", (data) => {
      const at = nowMs();
      const message = JSON.parse(String(data)) as ServerMessage;
      if (message.type === "hello") resolve();
      client.onMessage?.(message, at);
    });
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("no hello from the daemon's WebSocket")), 10_000);
  });
  try {
    await Promise.race([hello, timeout]);
  } finally {
    clearTimeout(timer);
  }
  return client;
}

interface WsSample {
  queued: number;
  start: number;
  llmRequest: number;
  firstDelta: number;
  end: number;
}

function wsRound(client: WsClient, llm: FakeLlm, marker: string): Promise<WsSample> {
  return new Promise<WsSample>((resolve, reject) => {
    const sample: WsSample = { queued: NaN, start: NaN, llmRequest: NaN, firstDelta: NaN, end: NaN };
    let requestId = `ws:${marker}`;
    const timer = setTimeout(
      () => done(new Error(`WebSocket round ${marker}: no end within ${ROUND_TIMEOUT_MS}ms (${JSON.stringify(sample)})`)),
      ROUND_TIMEOUT_MS,
    );
    const done = (error?: Error) => {
      clearTimeout(timer);
      client.onMessage = undefined;
      if (error) reject(error);
      else resolve(sample);
    };
    const t0 = nowMs();
    llm
      .waitForRequest((r) => r.lastUserText.includes(marker), ROUND_TIMEOUT_MS)
      .then(
        () => (sample.llmRequest = nowMs() - t0),
        () => undefined,
      );
    client.onMessage = (m, at) => {
      if (m.type === "queued" && m.id === marker) {
        requestId = m.requestId;
        sample.queued = at - t0;
      } else if (m.type === "start" && m.requestId === requestId) sample.start = at - t0;
      else if (m.type === "delta" && m.requestId === requestId && Number.isNaN(sample.firstDelta)) sample.firstDelta = at - t0;
      else if (m.type === "end" && m.requestId === requestId) {
        sample.end = at - t0;
        done(m.text.includes(`pong ${marker}`) ? undefined : new Error(`WebSocket round ${marker}: unexpected reply ${JSON.stringify(m.text)}`));
      } else if (m.type === "error" && m.requestId === requestId) done(new Error(`WebSocket round ${marker}: ${m.message}`));
    };
    client.socket.send(JSON.stringify({ type: "prompt", id: marker, text: `ping ${marker}` }));
  });
}

interface TgSample {
  typing: number;
  llmRequest: number;
  preview: number;
  final: number;
}

/** A chat counts as quiet this long after the last message to it (Telegram's pacing of one a second, and a margin). */
const QUIET_CHAT_MS = 1_050;

async function telegramRound(telegram: FakeTelegram, llm: FakeLlm, marker: string, when: "quiet" | "after-reply"): Promise<TgSample> {
  const toOwner = (c: ApiCall) => String(c.params.chat_id) === String(OWNER);
  if (when === "quiet") {
    const lastMessage = telegram.sent.findLast((c) => toOwner(c) && c.method !== "sendChatAction")?.time ?? 0;
    const wait = lastMessage + QUIET_CHAT_MS - Date.now();
    if (wait > 0) await sleep(wait);
  }
  // The bot is back in its long poll before each message.
  await waitFor(() => telegram.polling, "the daemon's Telegram long poll", ROUND_TIMEOUT_MS, 1);
  const from = telegram.sent.length;
  const reply = `pong ${marker}`;
  // Everything here is on the fake's Date.now() clock (ms).
  const t0 = Date.now();
  telegram.injectMessage({ chatId: OWNER, userId: OWNER, text: `ping ${marker}` });
  const final = await waitFor(
    () => telegram.sent.slice(from).find((c) => toOwner(c) && c.outcome === true && c.params.parse_mode === "HTML" && String(c.params.text).includes(reply)),
    `the final Telegram reply to ${marker}`,
    ROUND_TIMEOUT_MS,
    2,
  );
  const calls = telegram.sent.slice(from).filter(toOwner);
  const typing = calls.find((c) => c.method === "sendChatAction");
  const preview = calls.find((c) => c.method === "sendMessage" && c.params.parse_mode === undefined);
  const request = llm.requests.find((r) => r.lastUserText.includes(marker));
  return {
    typing: typing ? typing.time - t0 : NaN,
    llmRequest: request ? request.receivedAt - t0 : NaN,
    preview: preview ? preview.time - t0 : NaN,
    final: final.time - t0,
  };
}
