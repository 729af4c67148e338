/**
 * CLI section: a `pi-gateway push` process from spawn to exit, against a bare `node -e 0`, each
 * spawned BENCH_CLI_RUNS times (20; 8 with --quick) alternately, medians compared. Runs the built
 * CLI (dist/bin/pi-gateway.js, the bundled `bin`) against the run's private Redis, and side by
 * side the same push through the unbundled modules (dist/cli/main.js), the layout before the bundle.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { defineSection } from "./section.js";
import { fmt, interleaved, nowMs, round, summarize, table } from "./stats.js";

export interface CliResult extends Record<string, unknown> {
  runs: number;
  pushMsP50: number;
  pushMsP90: number;
  nodeMsP50: number;
  nodeMsP90: number;
  ratio: number;
  unbundledMsP50: number;
  unbundledRatio: number;
}

const MAIN = fileURLToPath(new URL("../dist/bin/pi-gateway.js", import.meta.url));
const UNBUNDLED = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));

function timed(args: string[], env: NodeJS.ProcessEnv): number {
  const t0 = nowMs();
  const result = spawnSync(process.execPath, args, { env, stdio: ["ignore", "ignore", "pipe"] });
  const ms = nowMs() - t0;
  if (result.status !== 0) throw new Error(`${args.join(" ")} exited ${result.status}: ${String(result.stderr)}`);
  return ms;
}

export const cliSection = defineSection<CliResult>({
  name: "cli",
  description: "`pi-gateway push` process start to exit vs `node -e 0`",
  async run(ctx) {
    const redis = await ctx.redis();
    const runs = Number(process.env.BENCH_CLI_RUNS ?? (process.env.BENCH_QUICK ? 8 : 20));
    const env = { ...process.env, REDIS_URL: redis.url, GATEWAY_PREFIX: "benchcli" };
    // One warm-up round (the file cache), then the three alternately.
    const { push, bare, unbundled } = await interleaved(
      runs,
      {
        push: () => timed([MAIN, "push", "bench.cli"], env),
        bare: () => timed(["-e", "0"], env),
        unbundled: () => timed([UNBUNDLED, "push", "bench.cli"], env),
      },
      1,
    );
    const p = summarize(push);
    const n = summarize(bare);
    const u = summarize(unbundled);
    return {
      runs,
      pushMsP50: round(p.p50, 1),
      pushMsP90: round(p.p90, 1),
      nodeMsP50: round(n.p50, 1),
      nodeMsP90: round(n.p90, 1),
      ratio: round(p.p50 / n.p50, 2),
      unbundledMsP50: round(u.p50, 1),
      unbundledRatio: round(u.p50 / n.p50, 2),
    };
  },
  render(r) {
    return [
      table(
        ["process", "p50", "p90"],
        [
          ["pi-gateway push", `${fmt(r.pushMsP50, 0)} ms`, `${fmt(r.pushMsP90, 0)} ms`],
          ["node -e 0", `${fmt(r.nodeMsP50, 0)} ms`, `${fmt(r.nodeMsP90, 0)} ms`],
          ["push, unbundled modules (before)", `${fmt(r.unbundledMsP50, 0)} ms`, ""],
        ],
      ),
      `push vs node -e 0: ${r.ratio}× (unbundled: ${r.unbundledRatio}×; ${r.runs} runs each)`,
    ].join("\n");
  },
});
