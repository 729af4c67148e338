/**
 * The restart soak's growth rule (test/chaos/soak-growth.ts) on made-up runs: a flat figure with a
 * sawtooth and restarts passes; one leaking 1 %/min over 30 minutes fails; a window without a steady
 * sample says so instead of passing.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { growthWindows, judgeGrowth, type GrowthSample } from "./soak-growth.js";

const LOAD_MS = 30 * 60_000;
const restarts = [4, 8, 12, 16, 20, 24, 28].map((m) => ({ atMs: m * 60_000, what: "daemon" as const }));
const figures = [{ key: "rss", name: "RSS", unit: "MiB" }];

/** A sample every 5 s: `base(minute)` plus a GC sawtooth of up to 40 %, and a restart's dip to half for 10 s. */
function run(base: (minute: number) => number): GrowthSample[] {
  const samples: GrowthSample[] = [];
  for (let atMs = 0; atMs <= LOAD_MS; atMs += 5_000) {
    const sawtooth = 1 + (0.4 * ((atMs / 5_000) % 8)) / 8;
    const restarting = restarts.some((r) => atMs >= r.atMs && atMs < r.atMs + 10_000);
    samples.push({ atMs, values: { rss: base(atMs / 60_000) * (restarting ? 0.5 : sawtooth) } });
  }
  return samples;
}

test("flat with a GC sawtooth and restarts: within the rule", () => {
  const [v] = judgeGrowth(
    run(() => 200),
    figures,
    growthWindows(LOAD_MS, restarts),
  );
  assert.ok(v!.ok, JSON.stringify(v));
  assert.equal(v!.first, 200);
});

test("a leak of 1 % a minute: fails", () => {
  const [v] = judgeGrowth(
    run((m) => 200 * (1 + 0.01 * m)),
    figures,
    growthWindows(LOAD_MS, restarts),
  );
  assert.equal(v!.ok, false, JSON.stringify(v));
});

test("no sample in the last window: fails, saying so", () => {
  const samples = run(() => 200).filter((s) => s.atMs < LOAD_MS - 60_000);
  const [v] = judgeGrowth(samples, figures, growthWindows(LOAD_MS, restarts));
  assert.equal(v!.ok, false);
  assert.match(v!.unknown ?? "", /no sample in a window/);
});

test("a figure that settles longer than a window after its restart: not judged, and said so; other restarts do not count", () => {
  const slow = [{ key: "rss", name: "RSS", unit: "MiB", after: ["daemon" as const], settleMs: 150_000 }];
  const [v] = judgeGrowth(
    run(() => 200),
    slow,
    growthWindows(LOAD_MS, restarts),
  );
  assert.match(v!.unknown ?? "", /not judged/);
  const [w] = judgeGrowth(
    run(() => 200),
    [{ ...slow[0]!, after: ["redis" as const] }],
    growthWindows(LOAD_MS, restarts),
  );
  assert.ok(w!.ok && w!.unknown === undefined, JSON.stringify(w));
});

test("the 2-minute variant's windows: 30 s warm-up, two 45 s windows", () => {
  assert.deepEqual(growthWindows(120_000, []), { warmUpMs: 30_000, endMs: 120_000, windowMs: 45_000, restarts: [] });
});
