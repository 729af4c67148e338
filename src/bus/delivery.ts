/**
 * Taking events off a session's queue: claim (claim-8.lua), then ack, reject, renew or recover
 * (hand back) what was claimed. An event is in flight from its claim until one of those.
 */
import { parseRawEvent, type GatewayEvent } from "../protocol/event.js";
import { NotAcknowledgedError } from "./errors.js";
import type { BusContext, ClaimResult } from "./types.js";

/**
 * Claims up to `count` of the oldest pending events of a queue. Each returned event is in flight
 * until ack() (delivered), release() (hand back) or its lease expires (recoverExpired()).
 */
export async function claim(ctx: BusContext, sid: string, count: number, claimer?: { session: string; instance: string }): Promise<ClaimResult> {
  const { keys: k, options: o } = ctx;
  const [lease, leaseField] = k.leaseOf(sid, claimer?.session ?? sid);
  const reply = (await ctx.scripts
    .claim(
      [k.events(sid), k.inflight(sid), k.leases(sid), k.delivered(sid), k.deadLettersOf(sid), k.journalOf(sid), k.countersOf(sid), lease],
      [count, o.leaseMs, o.dedupWindowMs, sid, o.deadLetterCap, o.journalCap, o.maxEventBytes, claimer?.instance ?? "", leaseField, o.claimMaxBytes ?? ""],
    )
    .catch((error: unknown) => handBackUnacknowledged(ctx, sid, error))) as Array<string | number>;
  if (Number(reply[0]) === -1) return { events: [], duplicates: 0, deadLettered: 0, displaced: true };
  const duplicates = Number(reply[0]);
  let deadLettered = Number(reply[1]);
  const events: GatewayEvent[] = [];
  const rejects: Array<[string, string]> = [];
  for (let i = 2; i < reply.length; i += 2) {
    const id = String(reply[i]);
    const parsed = parseRawEvent(String(reply[i + 1]), o.maxEventBytes, id);
    if (!parsed.ok) rejects.push([id, parsed.reason]);
    // The ack goes by the claim's id: an event parsed to another one would be delivered under one and
    // acknowledged under the other. claim-8.lua decodes every entry that could name "id" more than once
    // (JSON's last one wins, as here), so the two agree; this keeps any disagreement out of the session.
    else if (parsed.event.id !== id) rejects.push([id, `id: the entry names its id twice ("${id}", then "${parsed.event.id}")`]);
    else events.push(parsed.event);
  }
  if (rejects.length) deadLettered += await reject(ctx, sid, rejects);
  return { events, duplicates, deadLettered };
}

/**
 * A claim no replica confirmed (cluster, docs/cluster.md §5) is not delivered: a failover could bring
 * the events back as pending and a second claim would deliver them again. Its events go back to the
 * queue at once (if the primary kept the claim; if a failover lost it, they are pending already and
 * recover finds nothing in flight) instead of waiting out their lease; the error is then thrown.
 */
async function handBackUnacknowledged(ctx: BusContext, sid: string, error: unknown): Promise<never> {
  if (error instanceof NotAcknowledgedError && Array.isArray(error.reply)) {
    const ids = error.reply.filter((_, i) => i >= 2 && i % 2 === 0).map(String);
    if (ids.length) await recover(ctx, sid, "ids", ids).catch(() => undefined);
  }
  throw error;
}

/** Marks events delivered: they leave the in-flight set and their ids are remembered (dedup). */
export async function ack(ctx: BusContext, sid: string, ids: string[]): Promise<number> {
  if (!ids.length) return 0;
  const { keys: k, options: o } = ctx;
  return Number(await ctx.scripts.ack([k.inflight(sid), k.leases(sid), k.delivered(sid), k.journalOf(sid)], [sid, o.journalCap, o.dedupMax, ...ids]));
}

/** Moves in-flight entries to the dead-letter list with a reason each. */
export async function reject(ctx: BusContext, sid: string, entries: Array<[id: string, reason: string]>): Promise<number> {
  if (!entries.length) return 0;
  const { keys: k, options: o } = ctx;
  return Number(
    await ctx.scripts.reject([k.inflight(sid), k.leases(sid), k.deadLettersOf(sid), k.journalOf(sid)], [sid, o.deadLetterCap, o.journalCap, ...entries.flat()]),
  );
}

/**
 * Extends the lease of events this consumer still holds (the host has them but has not recorded
 * them yet). Returns how many were still in flight.
 */
export async function renew(ctx: BusContext, sid: string, ids: string[]): Promise<number> {
  if (!ids.length) return 0;
  const k = ctx.keys;
  return Number(await ctx.scripts.renew([k.inflight(sid), k.leases(sid)], [ctx.options.leaseMs, ...ids]));
}

/** Puts in-flight events back at the front of the queue: the expired ones, all, or these ids. */
export async function recover(ctx: BusContext, sid: string, mode: "expired" | "all" | "ids", ids: string[] = []): Promise<number> {
  const k = ctx.keys;
  return Number(await ctx.scripts.recover([k.events(sid), k.inflight(sid), k.leases(sid)], [mode, ...ids]));
}
