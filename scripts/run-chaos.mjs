// Runs the chaos suite (test/chaos/*.chaos.ts: load, faults, hostile input) with node's test
// runner, one file at a time, and prints every scenario's figure line at the end with the total
// run time. These files are not *.test.ts, so the default `npm test` never runs them.
// Usage: node scripts/run-chaos.mjs [substring filters...]
// Knobs: CHAOS_LOAD_SECONDS, CHAOS_LOAD_RATE, CHAOS_LOAD_PRODUCERS, CHAOS_DAEMON_RATE, CHAOS_LOAD_AOF=0,
// CHAOS_SOAK_SECONDS, CHAOS_SOAK_RATE (daemon-load), CHAOS_RESTART_SOAK_SECONDS, CHAOS_RESTART_SOAK_RATE,
// CHAOS_RESTART_SOAK_PI_RATE, CHAOS_RESTART_SOAK_REDIS_EVERY, CHAOS_RESTART_SOAK_DAEMON_EVERY (restart-soak;
// `npm run soak -- --minutes N` runs it long)
// CHAOS_LOAD_CENTRAL_BATCH, CHAOS_LOAD_CENTRAL_MAX_CLAIM (load: the central consumer's claim size, and
// the most it grows to while its claims come back full)
// CHAOS_CENTRAL_RATE, CHAOS_CENTRAL_SECONDS, CHAOS_CENTRAL_PRODUCERS, CHAOS_CENTRAL_LLM_MS, CHAOS_CENTRAL_PROFILE=<dir>
// (central-load; the last writes a CPU profile of the daemon and Redis's INFO commandstats there)
// CHAOS_FAILOVER_RATE, CHAOS_FAILOVER_SECONDS, CHAOS_FAILOVER_PRODUCERS, CHAOS_FAILOVER_WAIT_REPLICAS=0 (cluster-failover)
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const dir = join(root, "test", "chaos");
const filters = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((name) => name.endsWith(".chaos.ts"))
  .sort()
  .map((name) => relative(root, join(dir, name)));
const selected = filters.length ? files.filter((f) => filters.some((s) => f.includes(s))) : files;
if (selected.length === 0) {
  console.error(`no chaos files match ${filters.join(", ")}`);
  process.exit(1);
}

const figures = join(root, ".tmp", "chaos-figures.txt");
mkdirSync(join(root, ".tmp"), { recursive: true });
rmSync(figures, { force: true });
const started = Date.now();
const result = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-reporter=spec", "--test-concurrency=1", ...selected], {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, NODE_ENV: "test", CHAOS_FIGURES_FILE: figures },
});
const elapsed = (Date.now() - started) / 1000;
console.log(`\n=== chaos figures (${selected.length} files, ${Math.floor(elapsed / 60)}m${String(Math.round(elapsed % 60)).padStart(2, "0")}s) ===`);
if (existsSync(figures)) process.stdout.write(readFileSync(figures, "utf8"));
else console.log("(no figures recorded)");
process.exit(result.status ?? 1);
