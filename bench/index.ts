/**
 * Benchmarks. Runs the sections in order on one private redis-server, prints a table per section
 * and writes everything to bench/results/latest.json (--quick: quick.json, so the reference run stays).
 *
 *   npm run bench                               build, then every section
 *   npm run bench -- --quick                    the same ratios from smaller counts, under a minute
 *   node --import tsx bench/index.ts [--json] [--quick] [section ...]
 *
 * --json prints only the JSON document on stdout (progress still goes to stderr).
 * BENCH_RESULTS_DIR writes the JSON there instead of bench/results/.
 * Sections: see SECTIONS below; each is a bench/<name>.ts exporting a Section (bench/section.ts).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { fileURLToPath, pathToFileURL } from "node:url";
import { startRedis, type RedisServer } from "../test/helpers/redis-server.js";
import { busSection } from "./bus.js";
import { cliSection } from "./cli.js";
import { daemonSection } from "./daemon.js";
import { piSection } from "./pi.js";
import { sessionsSection } from "./sessions.js";
import { latencySection } from "./latency.js";
import type { BenchContext, Section } from "./section.js";
import { nowMs, round } from "./stats.js";

export type { BenchContext, Section } from "./section.js";

/** In run order. Later sections (pi latency, daemon queue) go here. */
export const SECTIONS: Section[] = [busSection, latencySection, sessionsSection, cliSection, piSection, daemonSection];

interface Cli {
  json: boolean;
  sections: Section[];
}

/** --quick: smaller counts where the environment does not set them; the same ratios are printed. */
const QUICK_COUNTS: Record<string, string> = {
  BENCH_QUICK: "1",
  BENCH_EVENTS: "300",
  BENCH_ROUNDS: "1",
  BENCH_WARMUP: "200",
  BENCH_BACKLOG: "2000",
  BENCH_SESSIONS_WINDOW: "5000",
  BENCH_PI_EVENTS: "15",
  BENCH_PI_POLL_EVENTS: "2",
  BENCH_QUEUE_COMMANDS: "1000",
  BENCH_DAEMON_ROUNDS: "3",
  BENCH_LATENCY_SAMPLES: "300",
};

/**
 * The reference run's file (every section, full counts: the README's tables come from it), the
 * quick run's, or a run of some sections only, which must not replace the reference.
 */
const RESULT_FILE = (all: boolean) => (process.env.BENCH_QUICK ? "quick.json" : all ? "latest.json" : "partial.json");

function quick(): void {
  for (const [name, value] of Object.entries(QUICK_COUNTS)) process.env[name] ??= value;
}

function parseArgs(argv: string[]): Cli {
  let json = false;
  const names: string[] = [];
  for (const arg of argv) {
    if (arg === "--json") json = true;
    // Same sections and ratios with smaller counts (each section reads BENCH_QUICK), under a minute.
    else if (arg === "--quick") quick();
    else if (arg === "--help" || arg === "-h") {
      process.stdout.write(
        `usage: node --import tsx bench/index.ts [--json] [--quick] [section ...]\nsections: ${SECTIONS.map((s) => `${s.name} (${s.description})`).join("; ")}\n`,
      );
      process.exit(0);
    } else if (arg.startsWith("-")) throw new Error(`unknown option ${arg}`);
    else names.push(arg);
  }
  const unknown = names.filter((n) => !SECTIONS.some((s) => s.name === n));
  if (unknown.length) throw new Error(`unknown section(s) ${unknown.join(", ")}; known: ${SECTIONS.map((s) => s.name).join(", ")}`);
  return { json, sections: names.length ? SECTIONS.filter((s) => names.includes(s.name)) : SECTIONS };
}

async function main(): Promise<void> {
  const cli = parseArgs(process.argv.slice(2));
  const started = nowMs();
  let redis: RedisServer | undefined;
  let redisStarting: Promise<RedisServer> | undefined;
  const ctx: BenchContext = {
    redis: () => {
      redisStarting ??= startRedis().then((server) => (redis = server));
      return redisStarting;
    },
    log: (message) => process.stderr.write(`[bench ${((nowMs() - started) / 1000).toFixed(1)}s] ${message}\n`),
  };

  const results: Record<string, unknown> = {};
  const failures: Record<string, string> = {};
  try {
    for (const section of cli.sections) {
      ctx.log(`section ${section.name}: ${section.description}`);
      const t0 = nowMs();
      try {
        const result = await section.run(ctx);
        results[section.name] = { ...result, durationMs: round(nowMs() - t0, 1) };
        if (!cli.json) {
          process.stdout.write(`\n== ${section.name}: ${section.description}\n\n`);
          process.stdout.write(`${section.render ? section.render(result) : JSON.stringify(result, null, 2)}\n`);
        }
      } catch (error) {
        failures[section.name] = (error as Error).stack ?? String(error);
        ctx.log(`section ${section.name} failed: ${(error as Error).message}`);
      }
    }
  } finally {
    if (redisStarting) await (redis ?? (await redisStarting.catch(() => undefined)))?.stop();
  }

  const doc = {
    date: new Date().toISOString(),
    durationMs: round(nowMs() - started, 1),
    host: {
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? "?",
      memGiB: round(totalmem() / 2 ** 30, 1),
    },
    sections: results,
    ...(Object.keys(failures).length ? { failures } : {}),
  };
  const failed = Object.keys(failures).length > 0;
  const resultFile = RESULT_FILE(cli.sections.length === SECTIONS.length);
  if (!failed) {
    // BENCH_RESULTS_DIR: elsewhere (the bench's own test), so a check never replaces a real run's file.
    const dir = process.env.BENCH_RESULTS_DIR ? `${process.env.BENCH_RESULTS_DIR}/` : fileURLToPath(new URL("./results/", import.meta.url));
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${dir}${resultFile}`, `${JSON.stringify(doc, null, 2)}\n`);
  } else {
    ctx.log(`a section failed: bench/results/${resultFile} left as it was`);
  }
  if (cli.json) process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  else process.stdout.write(`\ntotal ${(doc.durationMs / 1000).toFixed(1)}s${failed ? "" : `; JSON written to bench/results/${resultFile}`}\n`);
  if (failed) process.exitCode = 1;
}

// Run only as the entry point: the bench's own test imports SECTIONS from here.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: Error) => {
    process.stderr.write(`bench: ${error.message}\n`);
    process.exitCode = 1;
  });
}
