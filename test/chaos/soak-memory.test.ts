/**
 * The soak's memory judgement (test/chaos/soak-memory.ts) on made-up runs: the RSS sawtooth of a
 * real 15-minute soak around a flat live heap passes; a leak of 3 MiB/min fails, in the live heap
 * (JS objects) or in RSS beyond the V8 heap (a runaway); too short a run or a missing figure says so.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { floorFlatness, judgeMemory, minuteFloors, type MemorySample } from "./soak-memory.js";

// RSS every 30 s of the 15-minute soak on main (issue #13), MiB: a 180–335 sawtooth.
const RSS_SAWTOOTH = [
  159, 190, 175, 202, 221, 284, 322, 181, 194, 183, 204, 237, 199, 221, 228, 199, 262, 246, 208, 214, 248, 318, 214, 251, 282, 335, 270, 303, 216, 242, 283,
];
const LOAD_END_MS = 15 * 60_000;

/** A sample every 5 s for 15 minutes; RSS follows the sawtooth (held between its 30-s points). */
function run(liveHeap: (minute: number) => number, rssExtra: (minute: number) => number = () => 0): MemorySample[] {
  const samples: MemorySample[] = [];
  for (let atMs = 5_000; atMs <= LOAD_END_MS; atMs += 5_000) {
    const minute = atMs / 60_000;
    const jitter = ((atMs / 5_000) % 3) - 1; // -1, 0, +1 MiB: a GC here and there
    const rss = RSS_SAWTOOTH[Math.min(RSS_SAWTOOTH.length - 1, Math.floor(atMs / 30_000))]!;
    samples.push({ atMs, rssMiB: rss + rssExtra(minute), redisMiB: 2.5 + jitter * 0.05, liveHeapMiB: liveHeap(minute) + jitter });
  }
  return samples;
}

const verdict = (samples: MemorySample[], name: string) => judgeMemory(samples, LOAD_END_MS).find((v) => v.name === name)!;

test("a flat live heap passes, however RSS swings", () => {
  const verdicts = judgeMemory(
    run(() => 52),
    LOAD_END_MS,
  );
  assert.deepEqual(
    verdicts.map((v) => v.name),
    ["live heap", "Redis memory", "RSS per-minute floor"],
  );
  for (const v of verdicts) assert.ok(v.ok, JSON.stringify(v));
});

test("a JS leak of 3 MiB/min fails the live heap within 5 minutes", () => {
  const leak = (minute: number) => 52 + 3 * minute;
  assert.equal(verdict(run(leak), "live heap").ok, false);
  const fiveMinutes = run(leak).filter((s) => s.atMs <= 5 * 60_000);
  const v = judgeMemory(fiveMinutes, 5 * 60_000).find((x) => x.name === "live heap")!;
  assert.equal(v.ok, false, JSON.stringify(v));
  assert.ok(v.flatness!.high > 1.15);
});

test("a leak outside the V8 heap fails on RSS once it has doubled the floor", () => {
  assert.equal(
    verdict(
      run(
        () => 52,
        (minute) => 15 * minute,
      ),
      "RSS per-minute floor",
    ).ok,
    false,
    "15 MiB/min",
  );
  assert.equal(
    verdict(
      run(
        () => 52,
        (minute) => 3 * minute,
      ),
      "RSS per-minute floor",
    ).ok,
    true,
    "3 MiB/min stays within the GC's drift",
  );
});

test("too short, or a figure missing: no verdict passes", () => {
  const short = run(() => 52).filter((s) => s.atMs <= 80_000);
  assert.deepEqual(
    judgeMemory(short, 80_000).map((v) => [v.name, v.ok, v.flatness]),
    [
      ["live heap", false, undefined],
      ["Redis memory", false, undefined],
    ],
  );
  const noHeap = run(() => Number.NaN);
  assert.equal(verdict(noHeap, "live heap").ok, false, "the daemon never reported its live heap");
  assert.equal(verdict(noHeap, "live heap").flatness, undefined);
});

test("minute floors: the lowest sample of each whole minute after warm-up; the partial last minute left out", () => {
  const samples: MemorySample[] = [60_000, 90_000, 120_000, 150_000, 185_000].map((atMs, i) => ({
    atMs,
    rssMiB: [200, 180, 220, 210, 100][i]!,
    redisMiB: 1,
    liveHeapMiB: 1,
  }));
  assert.deepEqual(
    minuteFloors(samples, (s) => s.rssMiB, 190_000),
    [180, 210],
  );
  assert.deepEqual(floorFlatness([180, 210]), { base: 180, low: 1, high: 210 / 180 });
  assert.equal(floorFlatness([180]), undefined);
});
