/**
 * The daemon's HTTP surface (Hono): health probes, event ingestion (`POST /events`), webhooks
 * (`POST /hooks/:name`, bearer or GitHub-style HMAC) and the read-only API behind the web page.
 *
 * Security model: everything that writes or reads gateway data needs a credential, and an
 * endpoint whose credential is not configured is disabled (503) rather than open. Webhook
 * payloads are untrusted content: they travel as the event payload only and are rendered fenced,
 * as data, by the event prompt; nothing here turns them into instructions.
 *
 * Every response is JSON; errors are `{error, code}` (400 bad input, 401 bad credential, 404
 * unknown route or hook, 413 body too large, 503 disabled or Redis unavailable). Security headers,
 * the body limit, credentials and query validation are declared per route (middleware.ts).
 */
import { randomUUID } from "node:crypto";
import { Hono, type MiddlewareHandler } from "hono";
import { z } from "zod";
import { isConnectionError, type GatewayBus } from "../../bus/bus.js";
import { GatewayError } from "../../bus/errors.js";
import { formatEventPrompt } from "../../host/event-prompt.js";
import { GatewayEventSchema, type GatewayEvent } from "../../protocol/event.js";
import type { CommandSink } from "../../daemon/types.js";
import { silentLogger, type Logger } from "../../util/logger.js";
import { bearerToken, signatureMatches, tokenMatches } from "./auth.js";
import { describeIssues, HttpError, limitBody, requireToken, securityHeaders, validQuery } from "./middleware.js";

export { HttpError };

export interface HookConfig {
  /** HMAC secret: the sender signs the raw body (`X-Hub-Signature-256: sha256=<hex>`). */
  secret?: string;
  /** Bearer token accepted for this hook only (the gateway token is accepted too). */
  token?: string;
  /** Event type of what the hook pushes (default `webhook.<name>`). */
  eventType?: string;
}

/** `ready()` may explain itself: `{ready: false, reason: "redis not connected"}`. */
export type Readiness = boolean | { ready: boolean; reason?: string };

export interface HttpAppOptions {
  /** Used to queue events directly when no bus is configured (the event is rendered as a prompt). */
  commands?: CommandSink;
  /** Where POST /events and webhooks push (fan-out and dedup apply); also serves /api/journal. */
  bus?: GatewayBus;
  /** The gateway token: POST /events and /api/* need it; without it they are disabled (503). */
  token?: string;
  hooks?: Record<string, HookConfig>;
  /** GET /api/status (default: bus.status()). */
  status?: () => Promise<unknown>;
  /** GET /metrics: Prometheus text (disabled, 503, without it). */
  metrics?: () => Promise<string>;
  /** GET /api/history: a page of the conversation (`undefined` when `before` names no item). */
  history?: (limit: number, before?: string) => { items: unknown[]; more: boolean } | undefined;
  /** GET /readyz (default: the bus client is connected, or true without a bus). */
  ready?: () => Promise<Readiness>;
  /** Largest request body accepted (default 1 MiB); bigger ones get 413. */
  maxBodyBytes?: number;
  logger?: Logger;
}

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
const MAX_LIMIT = 1000;
const LIMIT_RULE = `limit must be an integer from 1 to ${MAX_LIMIT}`;
/** `?limit=`: 1..1000, empty or absent meaning `fallback`. */
const limitParam = (fallback: number) =>
  z.preprocess((value) => (value === "" ? undefined : value), z.coerce.number(LIMIT_RULE).int(LIMIT_RULE).min(1, LIMIT_RULE).max(MAX_LIMIT, LIMIT_RULE).default(fallback));
/** `after` a journal stream id, empty meaning "the newest entries". */
const JournalQuerySchema = z.object({
  limit: limitParam(50),
  after: z
    .string()
    .regex(/^(\d{1,20}(-\d{1,20})?)?$/, "after must be a journal stream id such as 1700000000000-0")
    .optional()
    .transform((value) => value || undefined),
});
/** `before` an item id, empty meaning "from the newest". */
const HistoryQuerySchema = z.object({
  limit: limitParam(100),
  before: z
    .string("before must be one item id")
    .max(200, "before must be an item id (at most 200 characters)")
    .optional()
    .transform((value) => value || undefined),
});
/** Headers of a webhook request that are worth keeping with the event (never credentials). */
export const SAFE_HOOK_HEADERS = [
  "content-type",
  "user-agent",
  "x-github-event",
  "x-github-delivery",
  "x-github-hook-id",
  "x-github-hook-installation-target-id",
  "x-github-hook-installation-target-type",
  "x-gitlab-event",
  "x-gitea-event",
  "x-gogs-event",
  "x-event-type",
  "idempotency-key",
];

interface DeliveryResult {
  status: "pushed" | "queued" | "duplicate";
  sessions: string[];
}

export function createHttpApp(options: HttpAppOptions = {}): Hono {
  const logger = options.logger ?? silentLogger;
  const bodyUpToLimit = limitBody(options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
  const hooks = options.hooks ?? {};
  const apiToken = requireToken(options.token, "api", true);
  const app = new Hono();

  app.use(securityHeaders());

  app.onError((error, c) => {
    if (error instanceof HttpError) return c.json({ error: error.message, code: error.code, ...error.extra }, error.status);
    logger.error({ err: error, path: c.req.path }, "http request failed");
    return c.json({ error: "internal error", code: "INTERNAL" }, 500);
  });
  app.notFound((c) => c.json({ error: `not found: ${c.req.method} ${c.req.path}`, code: "NOT_FOUND" }, 404));

  // ------------------------------------------------------------------ probes

  app.get("/healthz", (c) => c.json({ ok: true }));

  app.get("/readyz", async (c) => {
    let readiness: Readiness;
    try {
      if (options.ready) readiness = await options.ready();
      else if (options.bus) readiness = { ready: options.bus.isReady, reason: `redis ${options.bus.connectionState}` };
      else readiness = true;
    } catch (error) {
      readiness = { ready: false, reason: (error as Error).message };
    }
    const ready = typeof readiness === "boolean" ? readiness : readiness.ready;
    if (ready) return c.json({ ready: true });
    const reason = (typeof readiness === "object" && readiness.reason) || "not ready";
    return c.json({ ready: false, error: reason, code: "NOT_READY" }, 503);
  });

  // ------------------------------------------------------------------ events

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
    const result = await deliver(event);
    return c.json({ status: result.status, id: event.id, sessions: result.sessions }, result.status === "duplicate" ? 200 : 202);
  });

  // ------------------------------------------------------------------ webhooks

  const knownHook: MiddlewareHandler = async (c, next) => {
    const name = c.req.param("name") ?? "";
    if (!Object.hasOwn(hooks, name)) throw new HttpError(404, `no webhook named "${name}" is configured`, "UNKNOWN_HOOK");
    await next();
  };

  app.post("/hooks/:name", knownHook, bodyUpToLimit, async (c) => {
    const name = c.req.param("name");
    const hook = hooks[name]!;
    const raw = await rawBody(c.req.raw);

    const bearer = bearerToken(c.req.header("authorization"));
    const signature = c.req.header("x-hub-signature-256");
    const authorized =
      tokenMatches(bearer, hook.token) || tokenMatches(bearer, options.token) || signatureMatches(signature, raw, hook.secret);
    if (!authorized) {
      if (!hook.secret && !hook.token && !options.token) {
        throw new HttpError(503, `webhook "${name}" disabled: no secret or token configured`, "DISABLED");
      }
      const why = signature ? "signature does not match" : bearer ? "wrong token" : "missing signature or bearer token";
      logger.warn({ hook: name, why }, "webhook refused");
      throw new HttpError(401, `unauthorized: ${why}`, "UNAUTHORIZED");
    }

    const headers: Record<string, string> = {};
    for (const header of SAFE_HOOK_HEADERS) {
      const value = c.req.header(header);
      if (value !== undefined) headers[header] = value.slice(0, 500);
    }
    const key = c.req.header("x-github-delivery") ?? c.req.header("idempotency-key");
    const event = validateEvent({
      id: key ? `hook:${name}:${key}` : `hook:${name}:${randomUUID()}`,
      type: hook.eventType ?? `webhook.${name}`,
      source: `webhook:${name}`,
      payload: { headers, body: decodeHookBody(raw, c.req.header("content-type")) },
      ts: Date.now(),
    });
    const result = await deliver(event);
    logger.info({ hook: name, id: event.id, status: result.status }, "webhook received");
    return c.json({ status: result.status, id: event.id, sessions: result.sessions }, result.status === "duplicate" ? 200 : 202);
  });

  // ------------------------------------------------------------------ read-only API

  app.get("/api/status", apiToken, async (c) => {
    if (options.status) return c.json((await guardRedis(options.status())) as object);
    if (options.bus) return c.json(await guardRedis(options.bus.status()));
    throw new HttpError(503, "status unavailable: no status source configured", "DISABLED");
  });

  // Token-protected like /api/status (Authorization: Bearer, or ?token= for scrapers that cannot set headers).
  app.get("/metrics", requireToken(options.token, "metrics", true), async (c) => {
    if (!options.metrics) throw new HttpError(503, "metrics unavailable: no daemon here", "DISABLED");
    const text = await guardRedis(options.metrics());
    return c.body(text, 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
  });

  app.get("/api/journal", apiToken, validQuery(JournalQuerySchema), async (c) => {
    const bus = options.bus;
    if (!bus) throw new HttpError(503, "journal unavailable: no bus configured", "DISABLED");
    const { limit, after } = c.req.valid("query");
    return c.json({ entries: await guardRedis(after ? bus.journalSince(after, limit) : bus.journal(limit)) });
  });

  app.get("/api/history", apiToken, validQuery(HistoryQuerySchema), (c) => {
    if (!options.history) throw new HttpError(503, "history unavailable: no agent session here", "DISABLED");
    const { limit, before } = c.req.valid("query");
    const page = options.history(limit, before);
    if (!page) throw new HttpError(400, `before: no history item "${before}" in this session`, "INVALID_QUERY");
    return c.json(page);
  });

  return app;

  async function deliver(event: GatewayEvent): Promise<DeliveryResult> {
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
      });
      return { status: result.status, sessions: [] };
    }
    throw new HttpError(503, "no event sink configured", "DISABLED");
  }
}

/** The whole body (already held by the body limit, which read it or checked its length). */
async function rawBody(request: Request): Promise<Uint8Array> {
  return new Uint8Array(await request.arrayBuffer());
}

function parseJson(raw: Uint8Array): unknown {
  const text = Buffer.from(raw).toString("utf8");
  if (!text.trim()) throw new HttpError(400, "body is empty: send a JSON event", "INVALID_JSON");
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, `body is not valid JSON: ${(error as Error).message}`, "INVALID_JSON");
  }
}

/** Any JSON is kept parsed; form posts become an object (GitHub's `payload=` field parsed); the rest stays text. */
function decodeHookBody(raw: Uint8Array, contentType: string | undefined): unknown {
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

function validateEvent(candidate: Record<string, unknown>): GatewayEvent {
  const parsed = GatewayEventSchema.safeParse(candidate);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => ({ path: issue.path.join(".") || "event", message: issue.message }));
  throw new HttpError(400, `invalid event: ${describeIssues(parsed.error.issues, "event")}`, "INVALID_EVENT", { issues });
}

async function guardRedis<T>(promise: Promise<T>): Promise<T> {
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

