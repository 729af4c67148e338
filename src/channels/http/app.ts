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
import { Hono } from "hono";
import { silentLogger } from "../../util/logger.js";
import { HttpError, limitBody, securityHeaders } from "./middleware.js";
import { DEFAULT_MAX_BODY_BYTES, type HttpAppOptions } from "./options.js";
import { registerApi } from "./routes/api.js";
import { registerEvents } from "./routes/events.js";
import { registerHooks } from "./routes/hooks.js";
import { registerPairing } from "./routes/pairing.js";
import { registerProbes } from "./routes/probes.js";

export { HttpError };
export { DEFAULT_MAX_BODY_BYTES, type HookConfig, type HttpAppOptions, type Readiness } from "./options.js";
export { SAFE_HOOK_HEADERS } from "./routes/hooks.js";

export function createHttpApp(options: HttpAppOptions = {}): Hono {
  const logger = options.logger ?? silentLogger;
  const bodyUpToLimit = limitBody(options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
  const app = new Hono();
  app.use(securityHeaders());
  app.onError((error, c) => {
    if (error instanceof HttpError) return c.json({ error: error.message, code: error.code, ...error.extra }, error.status);
    logger.error({ err: error, path: c.req.path }, "http request failed");
    return c.json({ error: "internal error", code: "INTERNAL" }, 500);
  });
  app.notFound((c) => c.json({ error: `not found: ${c.req.method} ${c.req.path}`, code: "NOT_FOUND" }, 404));
  registerProbes(app, options);
  registerEvents(app, options, bodyUpToLimit);
  registerHooks(app, options, bodyUpToLimit, logger);
  registerApi(app, options);
  registerPairing(app, options, bodyUpToLimit);
  return app;
}
