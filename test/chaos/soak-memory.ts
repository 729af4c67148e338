/**
 * The soak's memory judgement (issue #13): is the daemon's memory flat after warm-up?
 *
 * RSS alone cannot say: it includes garbage V8 has not collected yet, and under load (2 busy cores)
 * it swings in a sawtooth far wider than the live heap (measured: RSS 180–335 MiB around a live heap
 * of 50.6–52.7 MiB). So the judgement is on what grows when something leaks:
 * - the daemon's live heap (heap after the latest full GC, /metrics `pi_gateway_heap_live_bytes`),
 *   and Redis memory: within ±FLAT_TOLERANCE of their level right after warm-up;
 * - RSS, for what lives outside the V8 heap: the floor of each minute (the least garbage that
 *   minute) may not double from the first minute's floor; below that RSS is reported, not judged, as
 *   its floor drifts with GC timing on a loaded machine (measured +23 % in 13 minutes, live heap flat).
 */

export const WARM_UP_MS = 60_000;
/** Live heap and Redis memory after warm-up stay within this fraction of their level right after it. */
export const FLAT_TOLERANCE = 0.15;
/** RSS's per-minute floor after warm-up stays below (1 + this) × the first minute's floor: a runaway, not the GC's drift. */
export const RSS_FLOOR_TOLERANCE = 1;

export interface MemorySample {
  atMs: number;
  rssMiB: number;
  redisMiB: number;
  /** NaN until the daemon's first full GC. */
  liveHeapMiB: number;
}

export interface Flatness {
  /** The level right after warm-up. */
  base: number;
  /** Lowest and highest later value, as a fraction of base. */
  low: number;
  high: number;
}

export interface MemoryVerdict {
  name: string;
  unit: string;
  flatness: Flatness | undefined;
  tolerance: { low: number; high: number };
  ok: boolean;
}

const during = (samples: MemorySample[], loadEndMs: number) => samples.filter((s) => s.atMs >= WARM_UP_MS && s.atMs <= loadEndMs);

/**
 * How flat `pick` stayed during the load after warm-up: base is the mean of the samples in the 20 s
 * after warm-up, each later value the median of three neighbours (one GC does not count).
 * Undefined when the run is too short to say.
 */
export function flatness(samples: MemorySample[], pick: (s: MemorySample) => number, loadEndMs: number): Flatness | undefined {
  const values = during(samples, loadEndMs).map(pick).filter(Number.isFinite);
  const baseSamples = samples
    .filter((s) => s.atMs >= WARM_UP_MS && s.atMs < WARM_UP_MS + 20_000)
    .map(pick)
    .filter(Number.isFinite);
  if (values.length < 6 || baseSamples.length === 0) return undefined;
  const base = baseSamples.reduce((a, b) => a + b, 0) / baseSamples.length;
  const smoothed = values.slice(1, -1).map((_, i) => [values[i]!, values[i + 1]!, values[i + 2]!].sort((a, b) => a - b)[1]!);
  return { base, low: Math.min(...smoothed) / base, high: Math.max(...smoothed) / base };
}

/** The lowest value of each whole minute after warm-up (a minute with no sample is left out). */
export function minuteFloors(samples: MemorySample[], pick: (s: MemorySample) => number, loadEndMs: number): number[] {
  const floors = new Map<number, number>();
  for (const s of during(samples, loadEndMs)) {
    const value = pick(s);
    if (!Number.isFinite(value)) continue;
    const minute = Math.floor((s.atMs - WARM_UP_MS) / 60_000);
    floors.set(minute, Math.min(floors.get(minute) ?? Number.POSITIVE_INFINITY, value));
  }
  // The last minute is partial (the load may end a few seconds into it): a floor of few samples is no floor.
  const minutes = [...floors.keys()].filter((m) => WARM_UP_MS + (m + 1) * 60_000 <= loadEndMs + 5_000);
  return minutes.sort((a, b) => a - b).map((m) => floors.get(m)!);
}

/** Floors as a Flatness: base is the first minute's floor. Undefined with fewer than two whole minutes. */
export function floorFlatness(floors: number[]): Flatness | undefined {
  if (floors.length < 2) return undefined;
  const base = floors[0]!;
  return { base, low: Math.min(...floors) / base, high: Math.max(...floors) / base };
}

/**
 * The verdicts the soak asserts, each with what it measured: live heap and Redis memory, and the RSS
 * floor when the load lasted two whole minutes after warm-up (one floor compares with nothing).
 */
export function judgeMemory(samples: MemorySample[], loadEndMs: number): MemoryVerdict[] {
  const flat = { low: 1 - FLAT_TOLERANCE, high: 1 + FLAT_TOLERANCE };
  const verdict = (name: string, unit: string, f: Flatness | undefined, tolerance: { low: number; high: number }): MemoryVerdict => ({
    name,
    unit,
    flatness: f,
    tolerance,
    ok: f !== undefined && f.low >= tolerance.low && f.high <= tolerance.high,
  });
  const verdicts = [
    verdict(
      "live heap",
      "MiB",
      flatness(samples, (s) => s.liveHeapMiB, loadEndMs),
      flat,
    ),
    verdict(
      "Redis memory",
      "MiB",
      flatness(samples, (s) => s.redisMiB, loadEndMs),
      flat,
    ),
  ];
  if (loadEndMs < WARM_UP_MS + 2 * 60_000) return verdicts;
  return [
    ...verdicts,
    verdict("RSS per-minute floor", "MiB", floorFlatness(minuteFloors(samples, (s) => s.rssMiB, loadEndMs)), { low: 0, high: 1 + RSS_FLOOR_TOLERANCE }),
  ];
}

/** "-3%..+8% of 52.1 MiB" */
export function flatText(f: Flatness | undefined, unit: string): string {
  return f ? `${Math.round((f.low - 1) * 100)}%..+${Math.round((f.high - 1) * 100)}% of ${f.base.toFixed(1)} ${unit}` : "run too short to judge";
}
