/** The read-only API behind the web page (token-protected): status, metrics, journal, history. */
import type { Hono } from "hono";
import { z } from "zod";
import { quoteInput } from "../../../util/text.js";
import { guardRedis } from "../delivery.js";
import { HttpError, requireToken, validQuery } from "../middleware.js";
import type { HttpAppOptions } from "../options.js";

const MAX_LIMIT = 1000;
const LIMIT_RULE = `limit must be an integer from 1 to ${MAX_LIMIT}`;
/**
 * `?limit=`: 1..1000 in decimal digits, empty or absent meaning `fallback`. Digits only: a number
 * coercion would also take "0x10", "1e2", " 5" or "5.0".
 */
const limitParam = (fallback: number) =>
  z.preprocess(
    (value) => (value === "" || value === undefined ? String(fallback) : value),
    z
      .string(LIMIT_RULE)
      .regex(/^\d{1,4}$/, LIMIT_RULE)
      .transform(Number)
      .pipe(z.number().min(1, LIMIT_RULE).max(MAX_LIMIT, LIMIT_RULE)),
  );
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
export function registerApi(app: Hono, options: HttpAppOptions): void {
  const apiToken = requireToken(options.token, "api", true);
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
    if (!page) throw new HttpError(400, `before: no history item ${quoteInput(before ?? "")} in this session`, "INVALID_QUERY");
    return c.json(page);
  });
}
