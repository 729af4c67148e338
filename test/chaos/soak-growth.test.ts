/**
 * The restart soak's growth rule (test/chaos/soak-growth.ts) on made-up runs: a flat figure with a
 * sawtooth and restarts passes; one leaking 1 %/min over 30 minutes fails; a window without a steady
 * sample says so instead of passing.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { growthRule, growthWindows, judgeGrowth, verdictText, type GrowthSample } from "./soak-growth.js";

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

/** A pi's live heap growing by 3 KiB per event at 1 event/s over the 30 minutes (what it keeps of its session), with the event count in the samples. */
function keeping(kibPerEvent: number): GrowthSample[] {
  return run((m) => 40 + (kibPerEvent / 1024) * 60 * m).map((s) => ({ ...s, values: { ...s.values, events: Math.floor(s.atMs / 1000) } }));
}
const heap = { key: "rss", name: "pi live heap", unit: "MiB", allowance: { key: "events", each: 4 / 1024, per: "event" } };

test("an allowance per unit of work: growth by what the work keeps passes; beyond it fails; without it, the same growth fails", () => {
  const w = growthWindows(LOAD_MS, restarts);
  const [kept] = judgeGrowth(keeping(3), [heap], w);
  assert.ok(kept!.ok, JSON.stringify(kept));
  // Counts from the least in the first window (5:00) to the most in the last (30:00).
  assert.deepEqual(kept!.allowed, { amount: (1500 * 4) / 1024, units: 1500 });
  assert.match(verdictText(kept!), /\(allowed 5\.9 MiB more for 1500 events\) ok$/);
  const [leaking] = judgeGrowth(keeping(8), [heap], w);
  assert.equal(leaking!.ok, false, JSON.stringify(leaking));
  const [plain] = judgeGrowth(keeping(3), [{ ...heap, allowance: undefined }], w);
  assert.equal(plain!.ok, false, "3 KiB/event over 1,500 events is more than 10 % of 40 MiB");
  assert.match(growthRule(w, [heap]), /pi live heap: and more than 4 KiB per event between the windows/);
});

test("reported, not judged, while the figure it follows is within the rule; judged when that one grows or is not judged", () => {
  const w = growthWindows(LOAD_MS, restarts);
  const rss = { key: "rss2", name: "pi RSS", unit: "MiB", reportedWhileFlat: { key: "rss", why: "RSS carries garbage" } };
  const withRss = (samples: GrowthSample[]) => samples.map((s) => ({ ...s, values: { ...s.values, rss2: 150 + s.atMs / 10_000 } }));
  const [, flat] = judgeGrowth(withRss(keeping(3)), [heap, rss], w);
  assert.ok(flat!.ok, JSON.stringify(flat));
  assert.match(verdictText(flat!), /^pi RSS \d+ -> \d+ MiB \(\+\d+%\) reported, not judged: pi live heap within the rule; RSS carries garbage$/);
  const [, growing] = judgeGrowth(withRss(keeping(8)), [heap, rss], w);
  assert.equal(growing!.ok, false, "the live heap grows: RSS is judged too, and grows");
  assert.equal(growing!.reported, undefined);
  const unjudged = withRss(keeping(3)).map((s) => (s.atMs > LOAD_MS - 60_000 ? { ...s, values: { ...s.values, rss: Number.NaN } } : s));
  const [leader, judged] = judgeGrowth(unjudged, [heap, rss], w);
  assert.equal(leader!.ok, false);
  assert.equal(judged!.ok, false, "no live heap in the last window: RSS is judged");
  assert.match(growthRule(w, [heap, rss]), /pi RSS reported, not judged, while pi live heap is within the rule/);
});

test("a figure with no reading before something happens: not judged while the first window has none; then RSS that follows it is judged", () => {
  const w = growthWindows(LOAD_MS, restarts);
  const late = keeping(3).map((s) => (s.atMs < 7 * 60_000 ? { ...s, values: { ...s.values, rss: Number.NaN } } : s));
  const [strict] = judgeGrowth(late, [heap], w);
  assert.equal(strict!.ok, false, "without the option: no sample in a window fails");
  const waiting = { ...heap, firstReadingAfter: "the first full GC" };
  const rss = { key: "rss2", name: "pi RSS", unit: "MiB", reportedWhileFlat: { key: "rss", why: "garbage" } };
  const [v, follower] = judgeGrowth(
    late.map((s) => ({ ...s, values: { ...s.values, rss2: 150 } })),
    [waiting, rss],
    w,
  );
  assert.ok(v!.ok, JSON.stringify(v));
  assert.match(v!.unknown ?? "", /no reading yet in the first window \(it has one only after the first full GC\)/);
  assert.ok(follower!.ok && follower!.reported === undefined, "judged, since the live heap was not");
  const none = late.map((s) => (s.atMs >= LOAD_MS - 60_000 ? { ...s, values: { ...s.values, rss: Number.NaN } } : s));
  assert.equal(judgeGrowth(none, [waiting], w)[0]!.ok, false, "no reading in the last window still fails");
});
