/**
 * Credential checks shared by the HTTP endpoints and the WebSocket upgrade: bearer tokens compared
 * in constant time, GitHub-style HMAC signatures over the raw body. Everything fails closed: an
 * empty configured token or secret never matches anything.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

/** Constant-time string comparison (both sides hashed first, so the length does not leak either). */
export function safeEqual(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given, "utf8").digest();
  const b = createHash("sha256").update(expected, "utf8").digest();
  return timingSafeEqual(a, b) && given.length === expected.length;
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer[ \t]+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** True when `given` matches `expected`; never true when nothing is configured. */
export function tokenMatches(given: string | undefined, expected: string | undefined): boolean {
  if (!expected || !given) return false;
  return safeEqual(given, expected);
}

/** Checks `X-Hub-Signature-256: sha256=<hex>` against an HMAC-SHA256 of the raw body. */
export function signatureMatches(header: string | null | undefined, body: Uint8Array, secret: string | undefined): boolean {
  if (!secret || !header) return false;
  const match = /^sha256=([0-9a-fA-F]{64})$/.exec(header.trim());
  if (!match) return false;
  const given = Buffer.from(match[1]!.toLowerCase(), "hex");
  const expected = createHmac("sha256", secret).update(body).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** What a sender puts in X-Hub-Signature-256 for `body` (tests, and anyone writing a sender). */
export function signBody(body: string | Uint8Array, secret: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}
