/**
 * The bench is a script, not a timed test, but it must keep running: a section that breaks (a script
 * renamed, a SHA it looks for changed) fails only when someone needs the figures. This runs every
 * section once with the smallest counts and checks that each one produced its result. No figure is
 * judged here.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { SECTIONS } from "../../bench/index.js";

const root = new URL("../../", import.meta.url).pathname;

const SMALLEST: Record<string, string> = {
  BENCH_QUICK: "1",
  BENCH_PRODUCERS: "2",
  BENCH_EVENTS: "50",
  BENCH_ROUNDS: "1",
  BENCH_WARMUP: "0",
  BENCH_BACKLOG: "200",
  BENCH_LATENCY_SAMPLES: "20",
  BENCH_SESSIONS: "1,3",
  BENCH_SESSIONS_WINDOW: "300",
  BENCH_SESSIONS_PUSHES: "20",
  BENCH_CLI_RUNS: "2",
  BENCH_PI_EVENTS: "2",
  BENCH_PI_POLL_EVENTS: "1",
  BENCH_QUEUE_COMMANDS: "100",
  BENCH_DAEMON_ROUNDS: "1",
};

test("every bench section runs to its result with the smallest counts", { timeout: 240_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "bench-check-"));
  try {
    const run = spawnSync(process.execPath, ["--import", "tsx", "bench/index.ts", "--json"], {
      cwd: root,
      env: { ...process.env, ...SMALLEST, BENCH_RESULTS_DIR: dir },
      encoding: "utf8",
      timeout: 230_000,
    });
    const doc = JSON.parse(run.stdout) as { sections: Record<string, unknown>; failures?: Record<string, string> };
    assert.deepEqual(doc.failures ?? {}, {}, run.stderr);
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(Object.keys(doc.sections).sort(), SECTIONS.map((s) => s.name).sort());
    // --quick's file, in the given directory only: bench/results/ keeps the reference run.
    assert.deepEqual(JSON.parse(readFileSync(join(dir, "quick.json"), "utf8")).sections, doc.sections);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
