/**
 * The restart soak's growth rule (issue #17 item 5): does a figure (RSS, heap, open file
 * descriptors, Redis keys and memory) grow without bound while the daemon and Redis are restarted?
 *
 * A figure's level in a window is the lowest of its samples there (a GC's garbage, a burst or a
 * restart's spike does not count), leaving out the samples taken while something it depends on
 * settles after a restart (RESTART_SETTLE_MS, or the figure's own settle time: a daemon started
 * again needs a minute or two to reach its steady heap). After the warm-up, the level of the last
 * window may be at most GROWTH_TOLERANCE above the level of the first (plus a figure's slack: a
 * couple of file descriptors are not a leak). A window whose samples all fall in a settle time is
 * not judged, and says so; a window without any sample fails.
 *
 * Two refinements for a process whose memory grows by what it is asked to keep (a pi keeps every
 * entry of its session):
 * - an allowance: a figure may grow by a fixed amount per unit of work done between the windows
 *   (`allowance.each` per count of `allowance.key`, a running total in the samples, e.g. events
 *   delivered to the pi), on top of the tolerance;
 * - reported, not judged: a figure that follows another (RSS follows the live heap plus garbage not
 *   yet collected) is only reported while that one is judged flat, with the reason printed; when
 *   the other is not judged, or grows, it is judged as any figure.
 */

export const GROWTH_TOLERANCE = 0.1;
export const RESTART_SETTLE_MS = 20_000;

export interface GrowthSample {
  atMs: number;
  values: Record<string, number>;
}

export interface GrowthFigure {
  key: string;
  name: string;
  unit: string;
  /** Absolute growth always allowed on top of the tolerance. */
  slack?: number;
  /** Which restarts it settles after (default: all), and for how long (default RESTART_SETTLE_MS). */
  after?: Array<Restart["what"]>;
  settleMs?: number;
  /** Growth allowed per unit of work between the windows: `each` (in the figure's unit) per count of `key`. */
  allowance?: { key: string; each: number; per: string };
  /** Reported, not judged, while the figure `key` is judged and within the rule (`why` printed). */
  reportedWhileFlat?: { key: string; why: string };
  /** A figure that has no reading until something happens (`why`): not judged when it had none yet by the end of the first window. */
  firstReadingAfter?: string;
}

export interface Restart {
  atMs: number;
  what: "redis" | "daemon";
}

export interface GrowthWindows {
  warmUpMs: number;
  /** End of the load: the last window ends here. */
  endMs: number;
  /** Length of the first and the last window. */
  windowMs: number;
  /** When the daemon or Redis was restarted. */
  restarts: Restart[];
}

export interface GrowthVerdict {
  figure: GrowthFigure;
  first: number;
  last: number;
  ok: boolean;
  /** Why it was not judged (every sample of a window in a settle time) or failed for want of samples. */
  unknown?: string;
  /** The allowance it was given: so much for so many units of work. */
  allowed?: { amount: number; units: number };
  /** Reported, not judged: why (another figure it follows is flat). */
  reported?: string;
}

/** The windows of a run: warm-up a sixth of it (30 s to 5 min), windows of a minute or less. */
export function growthWindows(loadMs: number, restarts: Restart[]): GrowthWindows {
  const warmUpMs = Math.min(5 * 60_000, Math.max(30_000, Math.round(loadMs / 6)));
  return { warmUpMs, endMs: loadMs, windowMs: Math.min(60_000, Math.floor((loadMs - warmUpMs) / 2)), restarts };
}

/** The rule in one sentence, for the output. */
export function growthRule(w: GrowthWindows, figures: GrowthFigure[]): string {
  const longer = figures.filter((f) => f.settleMs !== undefined).map((f) => `${f.name} ${f.settleMs! / 1000} s`);
  return (
    `growth rule: after ${w.warmUpMs / 1000} s warm-up, a figure's level is the lowest of its samples in a ${w.windowMs / 1000} s window ` +
    `(leaving out ${RESTART_SETTLE_MS / 1000} s after each restart${longer.length ? `, ${longer.join(", ")}` : ""}); it fails when the last window's level is more than ` +
    `${Math.round(GROWTH_TOLERANCE * 100)} % above the first window's (file descriptors: and more than 2 above` +
    figures
      .filter((f) => f.allowance)
      .map((f) => `; ${f.name}: and more than ${amount(f.allowance!.each, f.unit)} per ${f.allowance!.per} between the windows`)
      .join("") +
    ")" +
    figures
      .filter((f) => f.reportedWhileFlat)
      .map(
        (f) =>
          `; ${f.name} reported, not judged, while ${figures.find((o) => o.key === f.reportedWhileFlat!.key)?.name ?? f.reportedWhileFlat!.key} is within the rule`,
      )
      .join("")
  );
}

/** "4 KiB" for 4/1024 MiB: an allowance per unit of work is small. */
function amount(value: number, unit: string): string {
  return unit === "MiB" && value < 1 ? `${+(value * 1024).toFixed(2)} KiB` : `${value} ${unit}`.trim();
}

/** Each figure's verdict under the rule. */
export function judgeGrowth(samples: GrowthSample[], figures: GrowthFigure[], w: GrowthWindows): GrowthVerdict[] {
  const verdicts = figures.map((figure) => judgeOne(samples, figure, w));
  return verdicts.map((v) => {
    const follows = v.figure.reportedWhileFlat;
    const leader = follows && verdicts.find((o) => o.figure.key === follows.key);
    if (!follows || !leader || !leader.ok || leader.unknown) return v;
    return { ...v, ok: true, reported: `reported, not judged: ${leader.figure.name} within the rule; ${follows.why}` };
  });
}

/** The work counted between the windows: from the least count in the first to the most in the last. */
function unitsBetween(samples: GrowthSample[], key: string, w: GrowthWindows): number {
  const counts = (from: number, to: number) =>
    samples.filter((s) => s.atMs >= from && s.atMs <= to && Number.isFinite(s.values[key] ?? Number.NaN)).map((s) => s.values[key]!);
  const first = counts(w.warmUpMs, w.warmUpMs + w.windowMs);
  const last = counts(w.endMs - w.windowMs, w.endMs);
  return first.length && last.length ? Math.max(0, Math.max(...last) - Math.min(...first)) : 0;
}

function judgeOne(samples: GrowthSample[], figure: GrowthFigure, w: GrowthWindows): GrowthVerdict {
  const settling = (s: GrowthSample) =>
    w.restarts.some((r) => (figure.after ?? [r.what]).includes(r.what) && s.atMs >= r.atMs && s.atMs < r.atMs + (figure.settleMs ?? RESTART_SETTLE_MS));
  const level = (from: number, to: number) => {
    const measured = samples.filter((s) => s.atMs >= from && s.atMs <= to && Number.isFinite(s.values[figure.key] ?? Number.NaN));
    const steady = measured.filter((s) => !settling(s)).map((s) => s.values[figure.key]!);
    return { value: steady.length ? Math.min(...steady) : Number.NaN, measured: measured.length };
  };
  const first = level(w.warmUpMs, w.warmUpMs + w.windowMs);
  const last = level(w.endMs - w.windowMs, w.endMs);
  const common = { figure, first: first.value, last: last.value };
  if (!first.measured && last.measured && figure.firstReadingAfter)
    return { ...common, ok: true, unknown: `not judged: no reading yet in the first window (it has one only after ${figure.firstReadingAfter})` };
  if (!first.measured || !last.measured) return { ...common, ok: false, unknown: "no sample in a window" };
  if (!Number.isFinite(first.value) || !Number.isFinite(last.value))
    return { ...common, ok: true, unknown: "not judged: every sample of a window taken while settling after a restart" };
  const units = figure.allowance ? unitsBetween(samples, figure.allowance.key, w) : 0;
  const allowed = figure.allowance ? { amount: units * figure.allowance.each, units } : undefined;
  return { ...common, ...(allowed ? { allowed } : {}), ok: last.value <= first.value * (1 + GROWTH_TOLERANCE) + (figure.slack ?? 0) + (allowed?.amount ?? 0) };
}

/** "daemon RSS 180 -> 185 MiB (+3%) ok" */
export function verdictText(v: GrowthVerdict): string {
  const n = (x: number) => (Number.isFinite(x) ? (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(1)) : "?");
  const change = Number.isFinite(v.first) && v.first > 0 ? ` (${v.last >= v.first ? "+" : ""}${Math.round((v.last / v.first - 1) * 100)}%)` : "";
  const allowed = v.allowed ? ` (allowed ${n(v.allowed.amount)} ${v.figure.unit} more for ${v.allowed.units} ${v.figure.allowance!.per}s)` : "";
  return `${v.figure.name} ${n(v.first)} -> ${n(v.last)} ${v.figure.unit}${change}${allowed} ${v.unknown ?? v.reported ?? (v.ok ? "ok" : "GROWS")}`;
}
