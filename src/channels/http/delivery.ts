/**
 * Where an accepted event goes (the bus, with fan-out and dedup; or straight into the daemon's
 * command queue when there is no bus), and the body/validation helpers the routes share. Errors
 * become HttpErrors with the status the API documents (400, 413, 503 for Redis).
 */
import { isConnectionError } from "../../bus/bus.js";
import { GatewayError } from "../../bus/errors.js";
import { formatEventPrompt } from "../../host/event-prompt.js";
import { detailsFor } from "../../host/gateway-message.js";
import { GatewayEventSchema, type GatewayEvent } from "../../protocol/event.js";
import { describeIssues, HttpError } from "./middleware.js";
import type { HttpAppOptions } from "./options.js";

export interface DeliveryResult {
  status: "pushed" | "queued" | "duplicate";
  sessions: string[];
}

export async function deliver(options: HttpAppOptions, event: GatewayEvent): Promise<DeliveryResult> {
  if (options.bus) {
    try {
      const result = await options.bus.push(event);
      return { status: result.status, sessions: result.sessions };
    } catch (error) {
      if (error instanceof GatewayError) {
        const status = error.code === "EVENT_TOO_LARGE" ? 413 : 400;
        throw new HttpError(status, error.message, error.code);
      }
      throw redisError(error);
    }
  }
  if (options.commands) {
    const result = await options.commands.submit({
      id: `event:${event.id}`,
      channel: "http",
      // Rendered by the event prompt: the payload is fenced and labelled untrusted data.
      text: formatEventPrompt([event]),
      priority: "event",
      meta: { type: event.type, source: event.source },
      // A gateway message in the session, as a bus-delivered event is (one badge, its payload preview).
      gateway: detailsFor({ kind: "events", shown: [event], ids: [event.id] }, ""),
    });
    return { status: result.status, sessions: [] };
  }
  throw new HttpError(503, "no event sink configured", "DISABLED");
}

/** The whole body (already held by the body limit, which read it or checked its length). */
export async function rawBody(request: Request): Promise<Uint8Array> {
  return new Uint8Array(await request.arrayBuffer());
}

export function parseJson(raw: Uint8Array): unknown {
  const text = Buffer.from(raw).toString("utf8");
  if (!text.trim()) throw new HttpError(400, "body is empty: send a JSON event", "INVALID_JSON");
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, `body is not valid JSON: ${(error as Error).message}`, "INVALID_JSON");
  }
}

/** Any JSON is kept parsed; form posts become an object (GitHub's `payload=` field parsed); the rest stays text. */
export function decodeHookBody(raw: Uint8Array, contentType: string | undefined): unknown {
  const text = Buffer.from(raw).toString("utf8");
  if (!text) return null;
  if (contentType?.toLowerCase().startsWith("application/x-www-form-urlencoded")) {
    const form: Record<string, unknown> = Object.fromEntries(new URLSearchParams(text));
    if (typeof form.payload === "string") {
      try {
        form.payload = JSON.parse(form.payload);
      } catch {
        // kept as text
      }
    }
    return form;
  }
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function validateEvent(candidate: Record<string, unknown>): GatewayEvent {
  const parsed = GatewayEventSchema.safeParse(candidate);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => ({ path: issue.path.join(".") || "event", message: issue.message }));
  throw new HttpError(400, `invalid event: ${describeIssues(parsed.error.issues, "event")}`, "INVALID_EVENT", { issues });
}

export async function guardRedis<T>(promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    throw redisError(error);
  }
}

function redisError(error: unknown): unknown {
  if (isConnectionError(error)) return new HttpError(503, `redis unavailable: ${(error as Error).message}`, "REDIS_UNAVAILABLE");
  return error;
}
