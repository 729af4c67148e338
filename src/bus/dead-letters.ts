/**
 * The dead-letter list: entries that could not be delivered, each with the reason, newest first.
 * Written by the Lua scripts (push, claim, reject, retire, queue-deadletter); read and purged here.
 */
import type { BusContext, DeadLetter } from "./types.js";

/** The newest `limit` dead letters, newest first. */
export async function deadLetters(ctx: BusContext, limit: number): Promise<DeadLetter[]> {
  const raw = await ctx.client.lrange(ctx.keys.deadLetters, 0, limit - 1);
  return raw.map(readDeadLetter);
}

/** How many dead letters the list holds. */
export function deadLetterCount(ctx: BusContext): Promise<number> {
  return ctx.client.llen(ctx.keys.deadLetters);
}

/** Deletes every dead letter. */
export async function purgeDeadLetters(ctx: BusContext): Promise<void> {
  await ctx.client.del(ctx.keys.deadLetters);
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
