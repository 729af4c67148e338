/**
 * Sessions section: what the number of live sessions costs, so the growth law is printed, not
 * guessed. For each count N (1/10/100/1,000; BENCH_SESSIONS overrides), on a flushed Redis: one
 * durable central plus N-1 ephemeral satellites, each a real EventConsumer (its own subscriber,
 * presence tick, safety-net poll, reaping) sharing one command client, then:
 *
 *   idle      Redis commands/s and Redis CPU (% of one core: INFO cpu used_cpu_sys+user) over a
 *             window with nothing pushed (BENCH_SESSIONS_WINDOW ms, default 10,500: three presence
 *             ticks of the default 3 s presence interval, two safety-net polls).
 *   push      time inside Redis of the push script (SLOWLOG with a 0 µs threshold, the entries of
 *             the push script's SHA), median and p99 over BENCH_SESSIONS_PUSHES pushes (200), and
 *             the client's round trip.
 *   sessions  client time of bus.sessions() (what `status` lists), median of 5.
 */
import { GatewayBus } from "../src/bus/bus.js";
import { EventConsumer } from "../src/bus/consumer.js";
import { scriptSha } from "../src/bus/scripts.js";
import { createEvent } from "../src/protocol/event.js";
import { defineSection, type BenchContext } from "./section.js";
import { fmt, nowMs, round, summarize, table } from "./stats.js";

export interface SessionsRow extends Record<string, unknown> {
  sessions: number;
  idleCommandsPerSec: number;
  idleRedisCpuPct: number;
  pushScriptUsP50: number;
  pushScriptUsP99: number;
  pushRoundTripMsP50: number;
  sessionsCallMs: number;
}

export interface SessionsResult extends Record<string, unknown> {
  windowMs: number;
  rows: SessionsRow[];
  /** Idle commands/s at the largest count over the next smaller one (linear growth = the count ratio). */
  idleGrowth: { from: number; to: number; ratio: number } | null;
  /** Push script time at the largest count over the smallest. */
  pushGrowth: { from: number; to: number; ratio: number } | null;
}

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}="${raw}": expected a whole number >= 1`);
  return n;
}

function counts(): number[] {
  const raw = process.env.BENCH_SESSIONS;
  if (!raw) return process.env.BENCH_QUICK ? [10, 100] : [1, 10, 100, 1000];
  const list = raw.split(",").map((s) => Number(s.trim()));
  if (list.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`BENCH_SESSIONS="${raw}": expected whole numbers >= 1, comma-separated`);
  return list;
}

// The composed script (push-5.lua with its steps inlined), as Redis names it.
const PUSH_SHA = scriptSha("push");

function infoNumber(info: string, field: string): number {
  const match = new RegExp(`^${field}:([0-9.]+)`, "m").exec(info);
  return match ? Number(match[1]) : 0;
}

async function startConsumers(bus: GatewayBus, n: number): Promise<EventConsumer[]> {
  const consumers: EventConsumer[] = [];
  for (let i = 0; i < n; i++) {
    const central = i === 0;
    consumers.push(
      new EventConsumer({
        bus,
        sessionId: central ? "gateway" : `sat-${i}`,
        role: central ? "central" : "satellite",
        durable: central,
        extraQueues: central ? ["main"] : [],
        deliver: async () => undefined,
      }),
    );
  }
  for (let i = 0; i < consumers.length; i += 50) await Promise.all(consumers.slice(i, i + 50).map((c) => c.start()));
  return consumers;
}

async function idle(bus: GatewayBus, windowMs: number): Promise<{ commandsPerSec: number; cpuPct: number }> {
  const before = await bus.client.info();
  const t0 = nowMs();
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  const after = await bus.client.info();
  const seconds = (nowMs() - t0) / 1000;
  const cpu = (info: string) => infoNumber(info, "used_cpu_sys") + infoNumber(info, "used_cpu_user");
  // The second INFO is counted; the first is not (it ran before its own count).
  const commands = infoNumber(after, "total_commands_processed") - infoNumber(before, "total_commands_processed") - 1;
  return { commandsPerSec: round(commands / seconds, 1), cpuPct: round(((cpu(after) - cpu(before)) / seconds) * 100, 2) };
}

async function pushTimes(bus: GatewayBus, pushes: number): Promise<{ scriptUs: number[]; roundTripMs: number[] }> {
  const c = bus.client;
  await bus.push(createEvent("bench.sessions", "bench", { warmup: true })); // loads the script (EVAL), the rest run by SHA
  await c.config("SET", "slowlog-log-slower-than", "0");
  await c.config("SET", "slowlog-max-len", "1000000");
  await c.slowlog("RESET");
  const roundTripMs: number[] = [];
  for (let i = 0; i < pushes; i++) {
    const t0 = nowMs();
    await bus.push(createEvent("bench.sessions", "bench", { i }));
    roundTripMs.push(nowMs() - t0);
  }
  const log = (await c.slowlog("GET", 1_000_000)) as Array<[number, number, number, string[]]>;
  await c.config("SET", "slowlog-log-slower-than", "10000");
  const scriptUs = log.filter((entry) => String(entry[3]?.[0]).toLowerCase() === "evalsha" && entry[3]?.[1] === PUSH_SHA).map((entry) => entry[2]);
  if (scriptUs.length < pushes / 2) throw new Error(`slowlog kept ${scriptUs.length} of ${pushes} push scripts`);
  return { scriptUs, roundTripMs };
}

async function measure(ctx: BenchContext, url: string, n: number, windowMs: number, pushes: number): Promise<SessionsRow> {
  const bus = await GatewayBus.connect({ redisUrl: url, persistent: true, name: "bench:sessions" });
  bus.client.setMaxListeners(0);
  await bus.client.flushall();
  const consumers = await startConsumers(bus, n);
  try {
    ctx.log(`sessions: ${n} live; idle window ${windowMs} ms`);
    const idleCost = await idle(bus, windowMs);
    const push = await pushTimes(bus, pushes);
    const listed: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = nowMs();
      const all = await bus.sessions();
      listed.push(nowMs() - t0);
      if (all.length !== n) throw new Error(`sessions() listed ${all.length} of ${n}`);
    }
    return row(n, idleCost, push, listed);
  } finally {
    // Also on failure: live consumers' timers would keep the bench process running.
    for (let i = 0; i < consumers.length; i += 100) await Promise.all(consumers.slice(i, i + 100).map((c) => c.stop()));
    await bus.close();
  }
}

function row(
  n: number,
  idleCost: { commandsPerSec: number; cpuPct: number },
  push: { scriptUs: number[]; roundTripMs: number[] },
  listed: number[],
): SessionsRow {
  const script = summarize(push.scriptUs);
  return {
    sessions: n,
    idleCommandsPerSec: idleCost.commandsPerSec,
    idleRedisCpuPct: idleCost.cpuPct,
    pushScriptUsP50: round(script.p50, 1),
    pushScriptUsP99: round(script.p99, 1),
    pushRoundTripMsP50: round(summarize(push.roundTripMs).p50, 3),
    sessionsCallMs: round(summarize(listed).p50, 2),
  };
}

export const sessionsSection = defineSection<SessionsResult>({
  name: "sessions",
  description: "cost of N live sessions: idle Redis commands/s and CPU, push script time, sessions() time",
  async run(ctx) {
    const redis = await ctx.redis();
    const windowMs = intEnv("BENCH_SESSIONS_WINDOW", 10_500);
    const pushes = intEnv("BENCH_SESSIONS_PUSHES", 200);
    const rows: SessionsRow[] = [];
    for (const n of counts()) rows.push(await measure(ctx, redis.url, n, windowMs, pushes));
    const last = rows.at(-1);
    const prev = rows.at(-2);
    const first = rows[0];
    return {
      windowMs,
      rows,
      idleGrowth:
        last && prev ? { from: prev.sessions, to: last.sessions, ratio: round(last.idleCommandsPerSec / Math.max(prev.idleCommandsPerSec, 1e-9), 2) } : null,
      pushGrowth:
        last && first && last !== first ? { from: first.sessions, to: last.sessions, ratio: round(last.pushScriptUsP50 / first.pushScriptUsP50, 2) } : null,
    };
  },
  render(r) {
    const rows = r.rows.map((row) => [
      String(row.sessions),
      fmt(row.idleCommandsPerSec, 1),
      `${fmt(row.idleRedisCpuPct)} %`,
      `${fmt(row.pushScriptUsP50, 0)} µs`,
      `${fmt(row.pushScriptUsP99, 0)} µs`,
      `${fmt(row.pushRoundTripMsP50)} ms`,
      `${fmt(row.sessionsCallMs)} ms`,
    ]);
    const lines = [table(["live sessions", "idle Redis cmds/s", "idle Redis CPU", "push script p50", "p99", "push round trip p50", "sessions()"], rows)];
    if (r.idleGrowth) lines.push(`idle commands/s, ${r.idleGrowth.to} sessions vs ${r.idleGrowth.from}: ${r.idleGrowth.ratio}×`);
    if (r.pushGrowth) lines.push(`push script time, ${r.pushGrowth.to} sessions vs ${r.pushGrowth.from}: ${r.pushGrowth.ratio}×`);
    return lines.join("\n");
  },
});
