/**
 * Shared plumbing of the chaos suite (test/chaos/*.chaos.ts): child processes that are always
 * killed (even when a test fails), RSS readings from /proc, figure lines, a seeded PRNG.
 *
 * Every scenario starts its own private redis-servers (test/helpers/redis-server.ts, never port
 * 6379) and talks to 127.0.0.1 only.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { GatewayBus } from "../../src/bus/bus.js";
import { startRedis, type RedisServer } from "../helpers/redis-server.js";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

// ------------------------------------------------------------------ figures

/** Where figure lines are collected for scripts/run-chaos.mjs to print at the end. */
const figuresFile = process.env.CHAOS_FIGURES_FILE ?? join(ROOT, ".tmp", "chaos-figures.txt");

/** Prints a one-line figure summary (and appends it to the figures file). */
export function figure(line: string): void {
  const text = line.replace(/\s+/g, " ").trim();
  process.stdout.write(`${text}\n`);
  try {
    mkdirSync(dirname(figuresFile), { recursive: true });
    appendFileSync(figuresFile, `${text}\n`);
  } catch {
    // the figure is printed anyway
  }
}

export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number (got "${raw}")`);
  return value;
}

// ------------------------------------------------------------------ memory

/** Resident set size of a process in MiB (VmRSS of /proc/<pid>/status), NaN if gone. */
export function rssMiB(pid: number | undefined): number {
  if (!pid) return Number.NaN;
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** CPU time (user + system, in seconds) a process has used so far (/proc/<pid>/stat), NaN if gone. */
export function cpuSeconds(pid: number | undefined): number {
  if (!pid) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return Number.NaN;
  }
}

/** Open file descriptors of a process (entries of /proc/<pid>/fd), NaN if gone. */
export function openFds(pid: number | undefined): number {
  if (!pid) return Number.NaN;
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return Number.NaN;
  }
}

export const mib = (value: number): string => (Number.isFinite(value) ? value.toFixed(0) : "?");

// ------------------------------------------------------------------ child processes

export interface Child {
  name: string;
  proc: ChildProcess;
  /** Every stdout line so far. */
  lines: string[];
  /** stderr (and stdout, for the record) as text. */
  output(): string;
  /** Resolves with the first stdout line matching `pattern`. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** The last `<tag> {json}` line printed, parsed. */
  last<T>(tag: string): T | undefined;
  alive(): boolean;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Children started by this test file: killed by killAll() (call it in after/finally). */
const children = new Set<Child>();

process.once("exit", () => {
  for (const child of children) if (child.alive()) child.proc.kill("SIGKILL");
});

/** Runs a TypeScript fixture (through tsx) as a child process. */
export function spawnFixture(name: string, fixture: string, env: Record<string, string>): Child {
  const proc = spawn(process.execPath, ["--import", "tsx", join(ROOT, "test", "fixtures", fixture)], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return track(name, proc);
}

export function track(name: string, proc: ChildProcess): Child {
  const lines: string[] = [];
  let text = "";
  let partial = "";
  const waiters = new Set<() => void>();
  proc.stdout?.on("data", (chunk: Buffer) => {
    const data = chunk.toString();
    text += data;
    partial += data;
    const parts = partial.split("\n");
    partial = parts.pop() ?? "";
    if (parts.length) {
      lines.push(...parts);
      for (const waiter of [...waiters]) waiter();
    }
  });
  proc.stderr?.on("data", (chunk: Buffer) => {
    text += chunk.toString();
    // Keep the record bounded: a crash loop must not eat the test's memory.
    if (text.length > 2_000_000) text = text.slice(-1_000_000);
  });
  proc.on("error", () => undefined);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) resolve({ code: proc.exitCode, signal: proc.signalCode });
    else proc.once("exit", (code, signal) => resolve({ code, signal }));
  });
  const alive = () => proc.exitCode === null && proc.signalCode === null;
  const child: Child = {
    name,
    proc,
    lines,
    output: () => text,
    alive,
    exited,
    waitForLine(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = lines.find((line) => pattern.test(line));
          if (found !== undefined) {
            finish();
            resolve(found);
          } else if (!alive()) {
            finish();
            reject(new Error(`${name} exited (${proc.exitCode ?? proc.signalCode}) before printing ${pattern}:\n${text.slice(-4000)}`));
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`${name}: no line matching ${pattern} within ${timeoutMs}ms:\n${text.slice(-4000)}`));
        }, timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          waiters.delete(check);
          proc.off("exit", check);
        };
        waiters.add(check);
        proc.on("exit", check);
        check();
      });
    },
    last<T>(tag: string): T | undefined {
      for (let i = lines.length - 1; i >= 0; i--) {
        const line = lines[i]!;
        if (line.startsWith(`${tag} `)) return JSON.parse(line.slice(tag.length + 1)) as T;
      }
      return undefined;
    },
    async kill(signal = "SIGKILL") {
      if (!alive()) return;
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
  children.add(child);
  void exited.then(() => undefined);
  return child;
}

/** Kills every child this file started that is still running. */
export async function killAll(): Promise<void> {
  await Promise.all([...children].map((child) => child.kill("SIGKILL")));
  children.clear();
}

// ------------------------------------------------------------------ fixtures' protocol

/** What test/fixtures/chaos-producer.ts prints last (`done {...}`). */
export interface ProducerReport {
  name: string;
  /** Events whose push completed ("pushed" or "duplicate" = a retry of a push that had landed). */
  pushed: number;
  /** Of those, how many came back "duplicate" (the first attempt landed but its reply was lost). */
  duplicateReplies: number;
  /** Pushes that needed more than one attempt. */
  retried: number;
  /** pushWithRetry gave up (retry window over) and the producer tried again with the same id. */
  gaveUp: number;
  /** Replies routed somewhere else than exactly [target]. */
  misrouted: number;
  perSession: Record<string, number>;
  /** Target rate (events/s) and the rate achieved over the run. */
  rate: number;
  achieved: number;
  seconds: number;
  /** Longest a single push took (ms), retries included. */
  maxLatencyMs: number;
  p99LatencyMs: number;
  /** CPU seconds the producer process used (user + system), start to done. */
  cpuSeconds?: number;
  idPrefix: string;
  sessions: string[];
}

/** Ids a producer pushed: `<idPrefix>-<i>` for i < pushed, round-robin over its sessions. */
export function expectedIds(report: ProducerReport): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (let i = 0; i < report.pushed; i++) {
    const sid = report.sessions[i % report.sessions.length]!;
    let list = out.get(sid);
    if (!list) out.set(sid, (list = []));
    list.push(`${report.idPrefix}-${i}`);
  }
  return out;
}

/** What test/fixtures/chaos-consumer.ts prints (`stats {...}`). */
export interface ConsumerStatsLine {
  sid: string;
  delivered: number;
  /** Entries dropped by the bus as duplicates, plus re-deliveries the host's check caught. */
  duplicates: number;
  /** Re-deliveries caught by the host's alreadyDelivered check (the sink already had them). */
  caught: number;
  deadLettered: number;
  drainFailures: number;
  /** Batches delivered (claims that returned events), and the largest one. */
  batches: number;
  largestBatch: number;
  state: string;
  polluted: boolean;
}

// ------------------------------------------------------------------ misc

/** Deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function percentile(values: number[], p: number): number {
  if (!values.length) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)}s`;

/**
 * A private bus Redis plus a separate sink Redis (so recording deliveries does not load the server
 * under test), with a connected bus; each piece is torn down through `cleanups`.
 */
export async function busWithSink(
  cleanups: Array<() => unknown>,
  options: { aof?: boolean } = {},
): Promise<{ redis: RedisServer; sinkServer: RedisServer; sink: Redis; bus: GatewayBus }> {
  const redis = await startRedis({ aof: options.aof });
  cleanups.push(() => redis.stop());
  const sinkServer = await startRedis();
  cleanups.push(() => sinkServer.stop());
  const sink = new Redis(sinkServer.url);
  cleanups.push(() => sink.disconnect());
  const bus = await GatewayBus.connect({ redisUrl: redis.url });
  cleanups.push(() => bus.close());
  return { redis, sinkServer, sink, bus };
}
