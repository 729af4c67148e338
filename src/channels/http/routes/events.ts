/** POST /events: a gateway event (or {type, source?, payload?, id?, target?}) from a producer with the token. */
import { randomUUID } from "node:crypto";
import type { Hono, MiddlewareHandler } from "hono";
import { deliver, parseJson, rawBody, validateEvent } from "../delivery.js";
import { HttpError, requireToken } from "../middleware.js";
import type { HttpAppOptions } from "../options.js";

export function registerEvents(app: Hono, options: HttpAppOptions, bodyUpToLimit: MiddlewareHandler): void {
  // The body is checked here rather than by zValidator("json"): that skips any body without a JSON
  // Content-Type, and producers (`curl -d`) often send none.
  app.post("/events", requireToken(options.token, "events endpoint", false), bodyUpToLimit, async (c) => {
    const body = parseJson(await rawBody(c.req.raw));
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw new HttpError(400, "body must be a JSON object: a gateway event or {type, source?, payload?, id?, target?}", "INVALID_EVENT");
    }
    const fields = body as Record<string, unknown>;
    const key = c.req.header("idempotency-key");
    const candidate = {
      ...fields,
      // The Idempotency-Key header wins over a body id: a retried POST carries the same key.
      id: key ?? fields.id ?? randomUUID(),
      source: fields.source ?? "http",
      ts: fields.ts ?? Date.now(),
    };
    const event = validateEvent(candidate);
    const result = await deliver(options, event);
    return c.json({ status: result.status, id: event.id, sessions: result.sessions }, result.status === "duplicate" ? 200 : 202);
  });
}
