/**
 * Several event commands as one turn (see CommandQueue.batchEvents): how many events a command
 * stands for, and the merged command: every entry (so begin, complete, retry and dead-letter cover
 * them all), one prompt, the union of their types and sources.
 */
import { mergeDetails } from "../host/gateway-message.js";
import type { QueuedCommand } from "./command-queue.js";
import type { InboundMessage } from "./types.js";

/** How many events a command stands for (an event command carries a drained batch). */
export function eventCount(message: InboundMessage): number {
  const n = Number(message.meta?.events);
  if (Number.isInteger(n) && n > 0) return n;
  return Math.max(1, (message.meta?.types ?? "").split(",").filter(Boolean).length);
}

/** Several event commands as one: every entry, one prompt, the union of their types and sources. */
export function mergeBatch(members: QueuedCommand[]): QueuedCommand {
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
  const gateway = mergeDetails(members.map((c) => c.message.gateway));
  return {
    message: {
      ...first.message,
      text: batchText(
        members.map((c) => c.message.text),
        total,
      ),
      meta,
      ...(gateway ? { gateway } : {}),
    },
    entries: members.flatMap((c) => c.entries),
    enqueuedAt: first.enqueuedAt,
    replayed: members.some((c) => c.replayed),
    attempts: 0,
  };
}

/** The prompts of a batch, oldest first, under one line that says how much is in it. */
export function batchText(texts: string[], events: number): string {
  return [`# ${events} gateway event${events === 1 ? "" : "s"} in ${texts.length} deliveries, oldest first`, ...texts].join("\n\n");
}

export function sameReply(a: InboundMessage, b: InboundMessage): boolean {
  return a.replyTo?.channel === b.replyTo?.channel && a.replyTo?.to === b.replyTo?.to;
}
