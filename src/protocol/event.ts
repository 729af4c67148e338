/**
 * The gateway event: the one message format every producer and consumer agrees on.
 *
 * Wire format (unchanged from the original design, so `redis-cli LPUSH` producers keep working):
 *   {"id": "...", "type": "...", "source": "...", "payload": {...}, "ts": 1700000000000}
 * Optional routing fields may ride along: `target` and `originSession`.
 */
import { randomUUID } from "node:crypto";
import { z } from "zod";

/** Event types are dotted names such as `cron.heartbeat` or `download.complete`. */
export const EVENT_TYPE_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.:/-]*$/;
export const MAX_ID_LENGTH = 200;
export const MAX_TYPE_LENGTH = 200;
export const MAX_SOURCE_LENGTH = 200;
/** Nesting deeper than this is refused: it is a parser bomb, not an event. */
export const MAX_PAYLOAD_DEPTH = 32;

const sessionId = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9_.:-]+$/, "session ids use letters, digits and _ . : -");

export const SessionIdSchema = sessionId;

export const GatewayEventSchema = z
  .object({
    id: z.string().min(1, "id must not be empty").max(MAX_ID_LENGTH),
    type: z.string().min(1, "type must not be empty").max(MAX_TYPE_LENGTH).regex(EVENT_TYPE_PATTERN, "type must be a dotted name like download.complete"),
    source: z.string().min(1, "source must not be empty").max(MAX_SOURCE_LENGTH),
    // The seed sends objects; any JSON value is accepted so a script can send a bare string or number.
    payload: z.unknown().default({}),
    // Producers send milliseconds; the seed's own checklist sends 0, so any non-negative number goes.
    ts: z.number().finite().nonnegative(),
    target: sessionId.optional(),
    originSession: sessionId.optional(),
  })
  .superRefine((event, ctx) => {
    if (depthOf(event.payload) > MAX_PAYLOAD_DEPTH) {
      ctx.addIssue({ code: "custom", path: ["payload"], message: `payload nests deeper than ${MAX_PAYLOAD_DEPTH} levels` });
    }
  });

export type GatewayEvent = z.infer<typeof GatewayEventSchema>;

export interface NewEventOptions {
  id?: string;
  ts?: number;
  target?: string;
  originSession?: string;
}

/** Builds a valid event (fresh id and timestamp unless given) and validates it. */
export function createEvent(type: string, source: string, payload: unknown = {}, options: NewEventOptions = {}): GatewayEvent {
  const candidate: Record<string, unknown> = {
    id: options.id ?? randomUUID(),
    type,
    source,
    payload,
    ts: options.ts ?? Date.now(),
  };
  if (options.target) candidate.target = options.target;
  if (options.originSession) candidate.originSession = options.originSession;
  const parsed = GatewayEventSchema.safeParse(candidate);
  if (!parsed.success) throw new InvalidEventError(describeIssues(parsed.error));
  return parsed.data;
}

export class InvalidEventError extends Error {
  override name = "InvalidEventError";
}

export type ParseResult = { ok: true; event: GatewayEvent } | { ok: false; reason: string };

/**
 * Parses one raw list entry as read from Redis. Never throws: a bad entry yields a reason
 * that ends up in the dead-letter list. `assignedId` is the id the claim gave an entry that came
 * without one (missing, null or ""): see claim-8.lua.
 */
export function parseRawEvent(raw: string, maxBytes: number, assignedId?: string): ParseResult {
  const size = Buffer.byteLength(raw, "utf8");
  if (size > maxBytes) return { ok: false, reason: `entry is ${size} bytes, over the ${maxBytes}-byte limit (GATEWAY_MAX_EVENT_BYTES)` };
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    return { ok: false, reason: `not JSON: ${(error as Error).message}` };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, reason: `not a JSON object: the entry is ${Array.isArray(value) ? "an array" : value === null ? "null" : `a ${typeof value}`}` };
  }
  const fields = value as Record<string, unknown>;
  if (assignedId !== undefined && (fields.id === undefined || fields.id === null || fields.id === "")) {
    value = { ...fields, id: assignedId };
  }
  const parsed = GatewayEventSchema.safeParse(value);
  if (!parsed.success) return { ok: false, reason: describeIssues(parsed.error) };
  return { ok: true, event: parsed.data };
}

export function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.length ? issue.path.join(".") : "event"}: ${issue.message}`).join("; ");
}

/** Depth of a JSON value, iterative so a hostile payload cannot blow the stack. */
export function depthOf(value: unknown): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== "object") continue;
    const level = depth + 1;
    if (level > max) max = level;
    if (max > MAX_PAYLOAD_DEPTH) return max;
    for (const child of Object.values(node as object)) stack.push([child, level]);
  }
  return max;
}

/** The heartbeat event every heartbeat source pushes (the original design's type). */
export const HEARTBEAT_EVENT_TYPE = "cron.heartbeat";
