/** Formatting of ages, durations and times, and the ids the page makes or compares. */

/** "12s", "4 min", "3h 5m", "2d"; "—" for a value that is not a number. */
export function formatAge(ms: number): string {
  if (!Number.isFinite(ms)) return "—";
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours}h ${m % 60}m`;
  return `${Math.floor(hours / 24)}d`;
}

/** "250 ms", "1.5 s", then as formatAge; "" for a value that is not a number. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return formatAge(ms);
}

/** "14:03:07" in the reader's locale, "?" for an invalid time. */
export function clock(at: number): string {
  const d = new Date(at);
  return Number.isNaN(d.getTime()) ? "?" : d.toLocaleTimeString([], { hour12: false });
}

/** Date and time in the reader's locale, "" for an invalid time. */
export function fullTime(at: number): string {
  const d = new Date(at);
  return Number.isNaN(d.getTime()) ? "" : d.toLocaleString([], { hour12: false });
}

/** ISO 8601 for a <time datetime>, undefined (attribute left out) for an invalid time. */
export function isoTime(at: unknown): string | undefined {
  const d = new Date(Number(at));
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** A random message id; crypto.randomUUID needs a secure context, getRandomValues does not. */
export function newId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Redis stream ids "ms-seq", compared numerically. */
export function compareStreamIds(a: string, b: string): number {
  const [am = 0, as = 0] = String(a).split("-").map(Number);
  const [bm = 0, bs = 0] = String(b).split("-").map(Number);
  return am - bm || as - bs;
}
