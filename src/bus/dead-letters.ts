/**
 * The dead-letter list: entries that could not be delivered, each with the reason, newest first.
 * Written by the Lua scripts (push, claim, reject, retire, queue-deadletter); read and purged here.
 */
import { allOf } from "./boxes.js";
import type { BusContext, DeadLetter } from "./types.js";

/** The dead-letter lists: one on a single Redis, the global one and each session's on a cluster (boxes.ts). */
function lists(ctx: BusContext): Promise<string[]> {
  return allOf(ctx, ctx.keys.deadLetters, ctx.keys.deadLettersOf);
}

/** The newest `limit` dead letters, newest first (merged by time across the lists of a cluster). */
export async function deadLetters(ctx: BusContext, limit: number): Promise<DeadLetter[]> {
  const keys = await lists(ctx);
  const raw = await Promise.all(keys.map((key) => ctx.client.lrange(key, 0, limit - 1)));
  const letters = raw.flat().map(readDeadLetter);
  // One list is already newest first; a stable sort keeps that order for equal times.
  return keys.length === 1 ? letters : letters.sort((a, b) => b.at - a.at).slice(0, limit);
}

/** How many dead letters the lists hold. */
export async function deadLetterCount(ctx: BusContext): Promise<number> {
  const lengths = await Promise.all((await lists(ctx)).map((key) => ctx.client.llen(key)));
  return lengths.reduce((sum, n) => sum + n, 0);
}

/** Deletes every dead letter (one DEL per list: on a cluster they live in different slots). */
export async function purgeDeadLetters(ctx: BusContext): Promise<void> {
  await Promise.all((await lists(ctx)).map((key) => ctx.client.del(key)));
}

/**
 * One dead-letter list entry as shown to a user. Entries written by hand or by an older version may
 * lack a field, or hold a reason that is not text (Lua's cjson writes an empty table as `{}` or
 * `[]`): every letter still gets a reason that reads as a sentence.
 */
function readDeadLetter(entry: string): DeadLetter {
  let value: Partial<Record<keyof DeadLetter, unknown>>;
  try {
    value = JSON.parse(entry) as typeof value;
  } catch {
    return { reason: "unreadable dead-letter entry (not JSON); the raw entry is shown as is", session: "?", raw: entry, at: 0 };
  }
  if (typeof value !== "object" || value === null) value = {};
  const reason = typeof value.reason === "string" && value.reason.trim() ? value.reason : "no reason recorded with this dead letter";
  const letter: DeadLetter = {
    reason,
    session: typeof value.session === "string" ? value.session : "?",
    raw: typeof value.raw === "string" ? value.raw : JSON.stringify(value.raw ?? null),
    at: typeof value.at === "number" ? value.at : 0,
  };
  if (typeof value.id === "string") letter.id = value.id;
  return letter;
}
