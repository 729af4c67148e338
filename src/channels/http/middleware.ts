/**
 * What the HTTP routes declare instead of doing by hand (Hono middleware): security headers on
 * every response, the body size limit, the credential check and query validation, each failing
 * with the API's `{error, code}` JSON.
 */
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { secureHeaders } from "hono/secure-headers";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { zValidator } from "@hono/zod-validator";
import type { z } from "zod";
import { bearerToken, tokenMatches } from "./auth.js";

/** Failures with a status and a code: thrown by helpers, turned into `{error, code}` by onError. */
export class HttpError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    message: string,
    readonly code: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/**
 * Security headers for every response. A response that sets a header itself keeps it (the web page
 * sends its own Content-Security-Policy); everything else, JSON mostly, gets a policy that loads
 * nothing. No HSTS: the daemon serves plain HTTP on loopback, and a proxy in front decides on TLS.
 */
export function securityHeaders(): MiddlewareHandler {
  return secureHeaders({
    overwrite: false,
    strictTransportSecurity: false,
    xFrameOptions: "DENY",
    contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
  });
}

/** Refuses (413) a body over `maxBytes`, by its Content-Length or, without one, while it streams in. */
export function limitBody(maxBytes: number): MiddlewareHandler {
  return bodyLimit({
    maxSize: maxBytes,
    onError: (c) => c.json({ error: `body is over the ${maxBytes}-byte limit`, code: "TOO_LARGE" }, 413),
  });
}

/** Bearer header (or, for GETs from the web page, a `token` query parameter) must match. */
export function requireToken(token: string | undefined, what: string, allowQuery: boolean): MiddlewareHandler {
  return async (c, next) => {
    if (!token) throw new HttpError(503, `${what} disabled: no token configured`, "DISABLED");
    const given = bearerToken(c.req.header("authorization")) ?? (allowQuery ? c.req.query("token") : undefined);
    if (!tokenMatches(given, token)) {
      throw new HttpError(401, given ? "unauthorized: wrong token" : "unauthorized: missing bearer token", "UNAUTHORIZED");
    }
    await next();
  };
}

/** The query parsed by `schema`; a query it refuses gets 400 INVALID_QUERY naming each problem. */
export function validQuery<T extends z.ZodType>(schema: T) {
  return zValidator("query", schema, (result) => {
    if (!result.success) throw new HttpError(400, `invalid query: ${describeIssues(result.error.issues)}`, "INVALID_QUERY");
  });
}

/** Zod issues as one line: `path: message; path: message`. */
export function describeIssues(issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>, whole = "query"): string {
  return issues.map((issue) => `${issue.path.map(String).join(".") || whole}: ${issue.message}`).join("; ");
}

/**
 * At most `max` requests inside the handler at once; the rest get 503 BUSY with Retry-After at
 * once. For routes that must read a body before they can tell who sent it (webhooks check an HMAC
 * of the body): without it, a few hundred slow unauthenticated bodies hold that much memory.
 */
export function limitConcurrency(max: number, what: string): MiddlewareHandler {
  let inside = 0;
  return async (c, next) => {
    if (inside >= max) {
      c.header("Retry-After", "1");
      throw new HttpError(503, `${what}: ${max} requests are being read already; try again shortly`, "BUSY");
    }
    inside += 1;
    try {
      await next();
    } finally {
      inside -= 1;
    }
  };
}
