/**
 * Telegram pairing for the web page (token-protected, bearer only for the writes): GET
 * /api/pairing lists waiting requests and paired users, POST /api/pairing/approve `{code}` approves
 * one, POST /api/pairing/revoke `{userId}` removes a paired user. A bad body is 400, an unknown or
 * expired code 404 with the reason (as `pi-gateway pair approve` says it).
 */
import type { Hono, MiddlewareHandler } from "hono";
import { z } from "zod";
import { GatewayError } from "../../../bus/errors.js";
import type { GatewayBus } from "../../../bus/bus.js";
import { guardRedis, parseJson, rawBody } from "../delivery.js";
import { describeIssues, HttpError, requireToken } from "../middleware.js";
import type { HttpAppOptions } from "../options.js";

const ApproveSchema = z.strictObject({ code: z.string("code must be a string").min(1, "code is empty").max(40, "code is too long") });
const RevokeSchema = z.strictObject({ userId: z.string("userId must be a string").regex(/^\d{1,16}$/, "userId must be a numeric Telegram user id") });

async function body<T extends z.ZodType>(request: Request, schema: T): Promise<z.infer<T>> {
  const parsed = schema.safeParse(parseJson(await rawBody(request)));
  if (!parsed.success) throw new HttpError(400, `invalid body: ${describeIssues(parsed.error.issues, "body")}`, "INVALID_BODY");
  return parsed.data;
}

function pairingBus(options: HttpAppOptions): GatewayBus {
  if (!options.bus) throw new HttpError(503, "pairing unavailable: no bus configured", "DISABLED");
  return options.bus;
}

export function registerPairing(app: Hono, options: HttpAppOptions, bodyUpToLimit: MiddlewareHandler): void {
  app.get("/api/pairing", requireToken(options.token, "api", true), async (c) => c.json(await guardRedis(pairingBus(options).pairing.list())));
  const write = requireToken(options.token, "api", false);
  app.post("/api/pairing/approve", write, bodyUpToLimit, async (c) => {
    const { code } = await body(c.req.raw, ApproveSchema);
    try {
      return c.json({ approved: await guardRedis(pairingBus(options).pairing.approve(code)) });
    } catch (error) {
      if (error instanceof GatewayError && error.code === "USAGE") {
        const malformed = /is not a pairing code/.test(error.message);
        throw new HttpError(malformed ? 400 : 404, error.message, malformed ? "INVALID_BODY" : "UNKNOWN_CODE");
      }
      if (error instanceof GatewayError && error.code === "UNREADABLE") throw new HttpError(409, error.message, "UNREADABLE");
      throw error;
    }
  });
  app.post("/api/pairing/revoke", write, bodyUpToLimit, async (c) => {
    const { userId } = await body(c.req.raw, RevokeSchema);
    const revoked = await guardRedis(pairingBus(options).pairing.revoke(userId));
    return c.json({ revoked, userId });
  });
}
