/**
 * The journal stream: what was pushed, delivered, retried, dead-lettered and what the agent
 * replied. Read back for `tail`, the web page and doctor; `replied` entries written here.
 */
import type { RedisClient } from "./connection.js";
import { setTimeout as sleep } from "node:timers/promises";
import { capText } from "../util/text.js";
import { allOf } from "./boxes.js";
import type { BusContext, JournalEntry, RepliedEntry } from "./types.js";

/** Longest reply line kept in a `replied` journal entry. */
export const REPLY_LINE_MAX = 200;

/** Reads journal entries as they are written, on a client of its own (blocking reads). */
export interface JournalReader {
  /** Entries after `lastId`, waiting up to `blockMs` for new ones. */
  next(lastId: string, blockMs: number): Promise<JournalEntry[]>;
  /** Ends the reader's connection at once (a pending next() fails). */
  close(): void;
}

/** The first non-empty line of a reply, capped (with an ellipsis when cut). */
export function firstLine(text: string, max = REPLY_LINE_MAX): string {
  return capText(
    text
      .split("\n")
      .map((l) => l.trim())
      .find(Boolean) ?? "",
    max,
  );
}

type Rows = Array<[string, string[]]>;

/** The journal streams: one on a single Redis, the global one and each session's on a cluster (boxes.ts). */
export function journalStreams(ctx: BusContext): Promise<string[]> {
  return allOf(ctx, ctx.keys.journal, ctx.keys.journalOf);
}

/** Stream ids compare as (ms, seq): entries of several streams merge in time order. */
function compareIds(a: string, b: string): number {
  const [ams = 0, aseq = 0] = a.split("-").map(Number);
  const [bms = 0, bseq = 0] = b.split("-").map(Number);
  return ams - bms || aseq - bseq;
}

/** Rows of several streams, oldest first. */
function merged(rows: Rows[]): Rows {
  return rows.length === 1 ? rows[0]! : rows.flat().sort(([a], [b]) => compareIds(a, b));
}

/** The newest `count` journal entries, oldest first. */
export async function journal(ctx: BusContext, count: number): Promise<JournalEntry[]> {
  const streams = await journalStreams(ctx);
  const rows = await Promise.all(streams.map((key) => ctx.client.xrevrange(key, "+", "-", "COUNT", count)));
  return merged(rows.map((r) => r.reverse()))
    .slice(-count)
    .flatMap(toJournalEntries)
    .slice(-count);
}

/**
 * Up to `limit` journal entries strictly after `afterId`, oldest first (paging forward never skips).
 * On a cluster the streams of different nodes are merged by id, which follows each node's clock.
 */
export async function journalSince(ctx: BusContext, afterId: string, limit: number): Promise<JournalEntry[]> {
  const streams = await journalStreams(ctx);
  const rows = await Promise.all(streams.map((key) => ctx.client.xrange(key, `(${afterId}`, "+", "COUNT", limit)));
  // A stream entry is never split across pages (paging goes by stream id): a batched `delivered`
  // entry on the last row may make the page longer than `limit`.
  return merged(rows).slice(0, limit).flatMap(toJournalEntries);
}

/** How long a cluster's journal reader waits between two looks (a blocking XREAD of many keys needs one slot). */
const CLUSTER_POLL_MS = 250;

/** A JournalReader on `reader`, a connected client that only this reader uses. */
export function journalReader(ctx: BusContext, reader: RedisClient): JournalReader {
  return {
    async next(lastId, blockMs) {
      if (ctx.keys.cluster) {
        const deadline = Date.now() + blockMs;
        for (;;) {
          const entries = await journalSince({ ...ctx, client: reader }, lastId, 500);
          if (entries.length || Date.now() >= deadline) return entries;
          await sleep(Math.min(CLUSTER_POLL_MS, Math.max(deadline - Date.now(), 0)));
        }
      }
      const reply = (await reader.xread("COUNT", 500, "BLOCK", blockMs, "STREAMS", ctx.keys.journal, lastId)) as Array<[string, Rows]> | null;
      return reply?.[0]?.[1].flatMap(toJournalEntries) ?? [];
    },
    close: () => reader.disconnect(),
  };
}

/** Journals a `replied` entry: the agent answered a turn (origin and the reply's first line). */
export async function journalReplied(ctx: BusContext, entry: RepliedEntry): Promise<string> {
  const unique = (values: string[] | undefined) => [...new Set(values ?? [])].join(",");
  return String(
    await ctx.scripts.replied(
      [ctx.keys.journal],
      [ctx.options.journalCap, entry.id, entry.channel, unique(entry.types), entry.session, firstLine(entry.text), unique(entry.sources)],
    ),
  );
}

/**
 * One stream entry as journal entries: one, or one per id of a batched `delivered` entry (ack-4.lua
 * writes the ids of an acknowledged batch together, as a JSON array in `ids`).
 */
function toJournalEntries(row: [string, string[]]): JournalEntry[] {
  const entry = toJournalEntry(row);
  const ids = batchIds(row[1]);
  return ids ? ids.map((id) => ({ ...entry, id })) : [entry];
}

function batchIds(fields: string[]): string[] | undefined {
  const at = fields.indexOf("ids");
  if (at < 0 || at % 2) return undefined;
  try {
    const ids: unknown = JSON.parse(fields[at + 1]!);
    return Array.isArray(ids) && ids.length && ids.every((id) => typeof id === "string") ? ids : undefined;
  } catch {
    return undefined;
  }
}

function toJournalEntry([streamId, fields]: [string, string[]]): JournalEntry {
  const map: Record<string, string> = {};
  for (let i = 0; i < fields.length; i += 2) map[fields[i]!] = fields[i + 1]!;
  return {
    streamId,
    at: Number(streamId.split("-")[0]),
    kind: map.kind ?? "?",
    id: map.id ?? "",
    type: map.type,
    source: map.source,
    sessions: map.sessions ? map.sessions.split(",").filter(Boolean) : [],
    reason: map.reason,
    event: map.event,
    channel: map.channel,
    reply: map.reply,
  };
}
