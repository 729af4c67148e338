/** POST /hooks/:name: webhooks, authorised by the hook's HMAC secret (`X-Hub-Signature-256`) or a bearer token. */
import { randomUUID } from "node:crypto";
import type { Hono, MiddlewareHandler } from "hono";
import type { Logger } from "../../../util/logger.js";
import { bearerToken, signatureMatches, tokenMatches } from "../auth.js";
import { decodeHookBody, deliver, rawBody, validateEvent } from "../delivery.js";
import { HttpError, limitConcurrency } from "../middleware.js";
import { DEFAULT_HOOK_CONCURRENCY, type HttpAppOptions } from "../options.js";

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

export function registerHooks(app: Hono, options: HttpAppOptions, bodyUpToLimit: MiddlewareHandler, logger: Logger): void {
  const hooks = options.hooks ?? {};
  const knownHook: MiddlewareHandler = async (c, next) => {
    const name = c.req.param("name") ?? "";
    if (!Object.hasOwn(hooks, name)) throw new HttpError(404, `no webhook named "${name}" is configured`, "UNKNOWN_HOOK");
    await next();
  };

  const fewAtOnce = limitConcurrency(options.hookConcurrency ?? DEFAULT_HOOK_CONCURRENCY, "webhooks");
  app.post("/hooks/:name", knownHook, fewAtOnce, bodyUpToLimit, async (c) => {
    const name = c.req.param("name");
    const hook = hooks[name]!;
    const raw = await rawBody(c.req.raw);

    const bearer = bearerToken(c.req.header("authorization"));
    const signature = c.req.header("x-hub-signature-256");
    const authorized = tokenMatches(bearer, hook.token) || tokenMatches(bearer, options.token) || signatureMatches(signature, raw, hook.secret);
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
    const result = await deliver(options, event);
    logger.info({ hook: name, id: event.id, status: result.status }, "webhook received");
    return c.json({ status: result.status, id: event.id, sessions: result.sessions }, result.status === "duplicate" ? 200 : 202);
  });
}
