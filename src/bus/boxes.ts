/**
 * Where the per-slot copies of the gateway's shared records live. On a single Redis every session's
 * scripts journal, dead-letter and count in the global keys, so there is one of each. On a Redis
 * Cluster each session's scripts write its own (docs/cluster.md §3: a script touches one slot), and
 * a reader reads the global key plus one per session, merging on read: O(sessions), only when asked
 * (`status`, `tail`, `dead-letters`).
 *
 * The sessions read: the registry, the legacy queue (drained without being registered) and the
 * letterboxes: sessions reaped or stopped whose own records outlive them (retire-global-5.lua).
 */
import type { BusContext } from "./types.js";

/** The ids whose own journal / dead letters / counters exist besides the global ones; [] on a single Redis. */
export async function sessionBoxes(ctx: BusContext): Promise<string[]> {
  if (!ctx.keys.cluster) return [];
  const [registered, letterboxes] = await Promise.all([ctx.client.smembers(ctx.keys.sessions), ctx.client.smembers(ctx.keys.letterboxes)]);
  return [...new Set([...registered, ...letterboxes, ctx.options.legacySession])].sort();
}

/** Every key holding one kind of record: the global key, then each session's own (cluster only). */
export async function allOf(ctx: BusContext, global: string, own: (sid: string) => string): Promise<string[]> {
  return [global, ...(await sessionBoxes(ctx)).map(own)];
}
