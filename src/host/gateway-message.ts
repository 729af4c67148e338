/**
 * The structured half of a gateway message, the same in both hosts. The message's `content` is the
 * fenced prompt the LLM reads (event-prompt.ts); its `details` (pi's custom message details, written
 * to the session file with the entry) say which events it carries, so a host recognises what a
 * session already holds by these ids (never by reading the prompt), and a renderer (pi's TUI, the
 * daemon's web page) shows one compact line per event with its payload collapsed.
 *
 * Payload previews are bounded (PREVIEW_MAX per event, PREVIEWS_TOTAL_MAX per message): the prompt
 * text already holds the payload, the details only what a person needs to glance at it.
 */
import { z } from "zod";
import type { GatewayEvent } from "../protocol/event.js";
import { SHOWN_EVENTS_MAX } from "./event-prompt.js";
import type { EventSummary, GatewayMessageDetails, GatewayMessageKind } from "./gateway-message-types.js";

/** The customType of every message the gateway puts into a pi session. */
export const GATEWAY_MESSAGE_TYPE = "pi-gateway";

export const PREVIEW_MAX = 2_048;
export const PREVIEWS_TOTAL_MAX = 16_384;
/** Most events one message's details describe one by one (the ids list always holds them all). */
export const SUMMARIES_MAX = 200;

export type { EventSummary, GatewayMessageDetails, GatewayMessageKind };

/** Summaries of `events` with their payload previews cut to the per-event and per-message caps. */
export function summarizeEvents(events: readonly GatewayEvent[], perEvent = PREVIEW_MAX, total = PREVIEWS_TOTAL_MAX): EventSummary[] {
  let left = total;
  return events.slice(0, SUMMARIES_MAX).map((event) => {
    const summary: EventSummary = { id: event.id, type: event.type, source: event.source, ts: event.ts };
    if (event.originSession) summary.originSession = event.originSession;
    const text = payloadText(event.payload);
    if (text === undefined) return summary;
    const room = Math.max(0, Math.min(perEvent, left));
    if (room > 0) summary.preview = text.slice(0, room);
    left -= summary.preview?.length ?? 0;
    if (text.length > room) summary.payloadChars = text.length;
    return summary;
  });
}

/** The payload as a person reads it; undefined when there is nothing to show. */
export function payloadText(payload: unknown): string | undefined {
  if (payload === undefined || payload === null) return undefined;
  if (typeof payload === "object" && Object.keys(payload as object).length === 0) return undefined;
  if (typeof payload === "string") return payload || undefined;
  try {
    return JSON.stringify(payload, null, 2);
  } catch {
    return String(payload);
  }
}

const text = (max: number) => z.string().transform((s) => s.slice(0, max));
const SummarySchema = z.object({
  id: text(500),
  type: text(200),
  source: text(200),
  ts: z.number().finite().catch(0),
  originSession: text(200).optional().catch(undefined),
  preview: text(PREVIEW_MAX).optional().catch(undefined),
  payloadChars: z.number().int().nonnegative().optional().catch(undefined),
});
const strings = z
  .array(z.unknown())
  .transform((list) => list.filter((v): v is string => typeof v === "string"))
  .optional()
  .catch(undefined);

const DetailsSchema = z.object({
  kind: z.enum(["events", "heartbeat", "alarm"]).catch("events"),
  batch: z.string(),
  ids: z.array(z.unknown()).transform((list) => list.filter((v): v is string => typeof v === "string")),
  types: strings,
  sources: strings,
  // A malformed summary is left out, never the whole entry: its ids still count.
  events: z
    .array(z.unknown())
    .transform((list) =>
      list
        .slice(0, SUMMARIES_MAX)
        .map((e) => SummarySchema.safeParse(e))
        .flatMap((r) => (r.success ? [r.data] : [])),
    )
    .optional()
    .catch(undefined),
  count: z.number().int().nonnegative().optional().catch(undefined),
  requests: strings,
  again: strings,
  elapsedMs: z.number().finite().nonnegative().optional().catch(undefined),
});

/**
 * The details of a gateway message (as read back from a session file or a live message), checked:
 * undefined when they are not a gateway message's (no batch or no id list); optional fields that are
 * malformed are dropped.
 */
export function parseGatewayDetails(details: unknown): GatewayMessageDetails | undefined {
  const parsed = DetailsSchema.safeParse(details);
  if (!parsed.success) return undefined;
  const out: GatewayMessageDetails = { kind: parsed.data.kind, batch: parsed.data.batch, ids: parsed.data.ids };
  for (const key of ["count", "types", "sources", "events", "requests", "again", "elapsedMs"] as const) {
    if (parsed.data[key] !== undefined) (out as unknown as Record<string, unknown>)[key] = parsed.data[key];
  }
  return out;
}

/** The events a message's details describe; entries written before per-event details give their types and sources. */
export function eventSummariesOf(details: GatewayMessageDetails): EventSummary[] {
  if (details.events) return details.events;
  // Since `count`, types and sources are distinct values, not one per event.
  if (details.count !== undefined) return [];
  return (details.types ?? []).map((type, i) => ({ id: details.ids[i] ?? "", type, source: details.sources?.[i] ?? "?", ts: 0 }));
}

/** HH:MM:SS (UTC) of a timestamp, or "--:--:--" when unknown. */
export function clockOf(ts: number): string {
  if (!ts || !Number.isFinite(ts)) return "--:--:--";
  return new Date(ts).toISOString().slice(11, 19);
}

/** One event as one line: `HH:MM:SS type · source · from origin`, control characters flattened. */
export function eventLine(event: Pick<EventSummary, "type" | "source" | "ts" | "originSession">): string {
  return `${clockOf(event.ts)} ${eventLabel(event)}`;
}

/** `type · source · from origin`. */
export function eventLabel(event: Pick<EventSummary, "type" | "source" | "originSession">): string {
  const parts = [flat(event.type), flat(event.source)];
  if (event.originSession) parts.push(`from ${flat(event.originSession)}`);
  return parts.join(" · ");
}

/** Single line, no control characters (a payload or a hostile type must not move the terminal's cursor). */
export function flat(value: string, max = 200): string {
  // eslint-disable-next-line no-control-regex
  return value.replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ").slice(0, max);
}

/** What a host message carries, structurally (gateway-host.ts HostMessage). */
export type DetailsSource = { kind: "events" | "heartbeat"; shown: readonly GatewayEvent[]; ids: readonly string[] } | { kind: "alarm"; elapsedMs: number };

/** Most distinct types (and sources) a message's details name. */
export const DISTINCT_MAX = 50;

/**
 * The details for one delivery of a host message; `batch` identifies this attempt's entry. Kept
 * small, since pi holds every entry of its session in memory: the ids once (the record), the count,
 * the distinct types and sources, and summaries of only the events the prompt shows one by one.
 */
export function detailsFor(message: DetailsSource, batch: string, shownMax = SHOWN_EVENTS_MAX): GatewayMessageDetails {
  if (message.kind === "alarm") return { kind: "alarm", batch, ids: [], elapsedMs: message.elapsedMs };
  return {
    kind: message.kind,
    batch,
    ids: [...message.ids],
    count: message.shown.length,
    types: distinct(message.shown.map((e) => e.type)),
    sources: distinct(message.shown.map((e) => e.source)),
    events: summarizeEvents(message.shown.slice(0, shownMax)),
  };
}

/** Values in order of first appearance, at most DISTINCT_MAX. */
export function distinct(values: Iterable<string>): string[] {
  const out = new Set<string>();
  for (const value of values) {
    if (out.size >= DISTINCT_MAX) break;
    out.add(value);
  }
  return [...out];
}

/**
 * Several messages' details as one (the daemon batches event commands into one turn); undefined
 * when none has any. Summaries are those the members carry: a member whose events the turn only
 * sums up comes without them (event-batch.ts).
 */
export function mergeDetails(list: ReadonlyArray<GatewayMessageDetails | undefined>): GatewayMessageDetails | undefined {
  const present = list.filter((d): d is GatewayMessageDetails => d !== undefined);
  if (present.length <= 1) return present[0];
  const all = (key: "types" | "sources") => distinct(present.flatMap((d) => d[key] ?? []));
  return {
    kind: present.some((d) => d.kind === "events") ? "events" : present[0]!.kind,
    batch: present[0]!.batch,
    ids: present.flatMap((d) => d.ids),
    count: present.reduce((sum, d) => sum + countOf(d), 0),
    types: all("types"),
    sources: all("sources"),
    events: withinTotal(present.flatMap((d) => d.events ?? []).slice(0, SUMMARIES_MAX)),
  };
}

/** Events a message carries (not counting heartbeats left out); entries before `count` had one type per event. */
export function countOf(details: GatewayMessageDetails): number {
  return details.count ?? Math.max(details.types?.length ?? 0, details.events?.length ?? 0);
}

/** Previews past the per-message total are left out (their size still said). */
function withinTotal(events: EventSummary[]): EventSummary[] {
  let left = PREVIEWS_TOTAL_MAX;
  return events.map((event) => {
    const size = event.preview?.length ?? 0;
    if (size <= left) {
      left -= size;
      return event;
    }
    const { preview: _dropped, ...rest } = event;
    return { ...rest, payloadChars: event.payloadChars ?? size };
  });
}
