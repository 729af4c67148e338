/**
 * Several event commands as one turn (see CommandQueue.batchEvents): how many events a command
 * stands for, and the merged command: every entry (so begin, complete, retry and dead-letter cover
 * them all), one prompt, the union of their types and sources.
 *
 * The prompt shows the oldest commands whole while their events stay within the turn's shown
 * events (GATEWAY_TURN_SHOWN_EVENTS; the first command always), and sums up the rest in one digest:
 * a turn's prompt, and what it adds to the conversation, no longer grows with the events it carries.
 * Every event is still named in the turn's details (`ids`): the session's record of what was delivered.
 */
import { addToDigest, digestText, type EventDigest } from "../host/event-prompt.js";
import { mergeDetails } from "../host/gateway-message.js";
import type { QueuedCommand } from "./command-queue.js";
import type { InboundMessage } from "./types.js";

/** Prompt bytes a batch's digest may take (DIGEST_KINDS_MAX types and sources, ids up to 200 characters each). */
export const DIGEST_BYTES = 6 * 1024;

/** How many events a command stands for (an event command carries a drained batch). */
export function eventCount(message: InboundMessage): number {
  const n = Number(message.meta?.events);
  if (Number.isInteger(n) && n > 0) return n;
  return Math.max(1, (message.meta?.types ?? "").split(",").filter(Boolean).length);
}

/**
 * Which commands of a batch the prompt shows whole: the first always, then each in stream order
 * while the events shown stay within `shownMax`; from the first that does not fit on, all are
 * summed up (the prompt keeps the oldest first).
 */
export class TurnShown {
  /** A command was summed up: every later one is too. */
  summing = false;
  constructor(
    private readonly shownMax: number,
    private shown: number,
  ) {}

  fits(events: number): boolean {
    return !this.summing && this.shown + events <= this.shownMax;
  }

  add(events: number, whole: boolean): void {
    if (whole) this.shown += events;
    else this.summing = true;
  }
}

/** Several event commands as one: every entry, one prompt (the oldest whole, the rest summed up), the union of their types and sources. */
export function mergeBatch(members: QueuedCommand[], shownMax: number): QueuedCommand {
  const first = members[0]!;
  if (members.length === 1) return first;
  const union = (key: string) =>
    members
      .map((c) => c.message.meta?.[key] ?? "")
      .filter(Boolean)
      .join(",");
  const total = members.reduce((sum, c) => sum + eventCount(c.message), 0);
  const meta: Record<string, string> = { ...first.message.meta, events: String(total) };
  for (const key of ["types", "sources"]) if (union(key)) meta[key] = union(key);
  const shown = new TurnShown(shownMax, eventCount(first.message));
  const whole = [first];
  let digest: EventDigest | undefined;
  for (const command of members.slice(1)) {
    const n = eventCount(command.message);
    const fits = shown.fits(n);
    shown.add(n, fits);
    if (fits) whole.push(command);
    else digest = digestOf(command.message, digest);
  }
  // A command only summed up brings no summaries: the details describe what the prompt shows.
  const gateway = mergeDetails(members.map((c) => (whole.includes(c) || !c.message.gateway ? c.message.gateway : { ...c.message.gateway, events: [] })));
  const texts = whole.map((c) => c.message.text);
  return {
    message: {
      ...first.message,
      text: batchText(digest ? [...texts, digestText(digest)] : texts, total, members.length),
      meta,
      ...(gateway ? { gateway } : {}),
    },
    entries: members.flatMap((c) => c.entries),
    enqueuedAt: first.enqueuedAt,
    replayed: members.some((c) => c.replayed),
    attempts: 0,
  };
}

/**
 * A command's events added to a digest: its ids from its details (which also name heartbeats left
 * out: they only widen the range), its types and sources from its meta (one per event).
 */
function digestOf(message: InboundMessage, digest: EventDigest | undefined): EventDigest {
  const ids = message.gateway?.ids ?? [];
  const types = (message.meta?.types ?? "").split(",");
  const sources = (message.meta?.sources ?? "").split(",");
  const n = eventCount(message);
  for (let i = 0; i < n; i++) digest = addToDigest(digest, { id: ids[i] ?? message.id, type: types[i] || "?", source: sources[i] || "?" });
  digest!.lastId = ids.at(-1) ?? digest!.lastId;
  return digest!;
}

/** The parts of a batch's prompt, oldest first, under one line that says how much is in it. */
export function batchText(parts: string[], events: number, deliveries: number): string {
  return [`# ${events} gateway event${events === 1 ? "" : "s"} in ${deliveries} deliveries, oldest first`, ...parts].join("\n\n");
}

export function sameReply(a: InboundMessage, b: InboundMessage): boolean {
  return a.replyTo?.channel === b.replyTo?.channel && a.replyTo?.to === b.replyTo?.to;
}
