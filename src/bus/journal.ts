/**
 * The journal stream: what was pushed, delivered, retried, dead-lettered and what the agent
 * replied. Read back for `tail`, the web page and doctor; `replied` entries written here.
 */
import type { RedisClient } from "./connection.js";
import { capText } from "../util/text.js";
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

/** The newest `count` journal entries, oldest first. */
export async function journal(ctx: BusContext, count: number): Promise<JournalEntry[]> {
  const rows = await ctx.client.xrevrange(ctx.keys.journal, "+", "-", "COUNT", count);
  return rows.reverse().map(toJournalEntry);
}

/** Up to `limit` journal entries strictly after `afterId`, oldest first (paging forward never skips). */
export async function journalSince(ctx: BusContext, afterId: string, limit: number): Promise<JournalEntry[]> {
  const rows = await ctx.client.xrange(ctx.keys.journal, `(${afterId}`, "+", "COUNT", limit);
  return rows.map(toJournalEntry);
}

/** A JournalReader on `reader`, a connected client that only this reader uses. */
export function journalReader(ctx: BusContext, reader: RedisClient): JournalReader {
  return {
    async next(lastId, blockMs) {
      const reply = (await reader.xread("COUNT", 500, "BLOCK", blockMs, "STREAMS", ctx.keys.journal, lastId)) as Array<
        [string, Array<[string, string[]]>]
      > | null;
      return reply?.[0]?.[1].map(toJournalEntry) ?? [];
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
