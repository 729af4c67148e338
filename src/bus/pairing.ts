/**
 * Pairing of unknown Telegram users: a user who is on no allowlist asks (by writing to the bot)
 * and gets a one-time code; the owner approves the code (`pi-gateway pair approve`, the web page)
 * and the user joins the approved set, kept in Redis. A code expires (GATEWAY_PAIRING_TTL), a user
 * has at most one live code (asking again gives no new one), and at most GATEWAY_PAIRING_MAX
 * requests wait at once. Issuing and approving are atomic (pair-request / pair-approve scripts).
 */
import { randomInt } from "node:crypto";
import { quoteInput, wellFormedJson } from "../util/text.js";
import { GatewayError } from "./errors.js";
import type { BusContext } from "./types.js";

/** No 0/O, 1/I/L: a code is read off a phone and typed into a terminal. */
export const PAIRING_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";
export const PAIRING_CODE_LENGTH = 8;
const CODE_PATTERN = new RegExp(`^[${PAIRING_ALPHABET}]{${PAIRING_CODE_LENGTH}}$`);

export interface PairingUser {
  /** The Telegram user id, as a string (ids exceed what Lua's number formatting keeps exact). */
  userId: string;
  username?: string;
  name?: string;
}

export interface PairingRequest extends PairingUser {
  code: string;
  createdAt: number;
  expiresAt: number;
}

export interface ApprovedUser extends PairingUser {
  code: string;
  createdAt: number;
  approvedAt: number;
}

export type PairingAsk =
  { status: "issued"; code: string; expiresAt: number } | { status: "pending"; code: string } | { status: "approved" } | { status: "full" };

export interface PairingLimits {
  /** How long a code stays valid (ms). */
  ttlMs: number;
  /** Most requests waiting at once. */
  maxPending: number;
}

export function newPairingCode(): string {
  let code = "";
  for (let i = 0; i < PAIRING_CODE_LENGTH; i++) code += PAIRING_ALPHABET[randomInt(PAIRING_ALPHABET.length)];
  return code;
}

/** A code as typed by a person: case and blanks/dashes don't matter; anything else is a usage error. */
export function normalisePairingCode(input: string): string {
  const code = input.replace(/[\s-]+/g, "").toUpperCase();
  if (!CODE_PATTERN.test(code)) {
    throw new GatewayError(`${quoteInput(input, 40)} is not a pairing code (${PAIRING_CODE_LENGTH} characters of ${PAIRING_ALPHABET})`, "USAGE");
  }
  return code;
}

export class PairingStore {
  constructor(private readonly ctx: BusContext) {}

  private keys(): string[] {
    const k = this.ctx.keys;
    return [k.pairingRequests, k.pairingExpiry, k.pairingUsers, k.pairingApproved];
  }

  /** An unknown user asks to be paired: a new code, their live one, or why not. */
  async request(user: PairingUser, limits: PairingLimits, now = Date.now()): Promise<PairingAsk> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const code = newPairingCode();
      const expiresAt = now + limits.ttlMs;
      // Well formed: the scripts decode it (a lone surrogate in a Telegram name would stop them).
      const json = wellFormedJson({ ...user, code, createdAt: now, expiresAt } satisfies PairingRequest);
      const reply = (await this.ctx.scripts["pair-request"](this.keys(), [user.userId, code, now, limits.ttlMs, limits.maxPending, json])) as string[];
      const [status, live] = reply;
      if (status === "issued") return { status, code, expiresAt };
      if (status === "pending" && live) return { status, code: live };
      if (status === "approved" || status === "full") return { status };
    }
    throw new GatewayError("could not find a free pairing code", "PAIRING");
  }

  /** Approves a code; throws a USAGE error naming why when it is unknown or expired. */
  async approve(input: string, now = Date.now()): Promise<ApprovedUser> {
    const code = normalisePairingCode(input);
    const [status, json] = (await this.ctx.scripts["pair-approve"](this.keys(), [code, now])) as string[];
    if (status === "approved" && json) return JSON.parse(json) as ApprovedUser;
    if (status === "expired") throw new GatewayError(`pairing code ${code} has expired; the user gets a new one by writing to the bot again`, "USAGE");
    if (status === "unreadable") {
      throw new GatewayError(`the pairing request with code ${code} is unreadable (not the JSON the gateway writes); it was left as it is`, "UNREADABLE");
    }
    throw new GatewayError(`no pairing request with code ${code} (unknown, already used or expired)`, "USAGE");
  }

  /** Removes a user from the approved set; false when they were not in it. */
  async revoke(input: string): Promise<boolean> {
    const userId = checkPairingUserId(input);
    const removed = await this.ctx.client.hdel(this.ctx.keys.pairingApproved, userId);
    return removed === 1;
  }

  async isApproved(userId: number | string): Promise<boolean> {
    return (await this.ctx.client.hexists(this.ctx.keys.pairingApproved, String(userId))) === 1;
  }

  /**
   * Live requests (oldest first; expired ones left out) and approved users. A stored entry that
   * does not read as one (edited by hand, written by something else) is skipped and named in
   * `unreadable`, so one bad entry neither hides the others nor goes unnoticed.
   */
  async list(now = Date.now()): Promise<PairingList> {
    const k = this.ctx.keys;
    const [requests, approved] = await Promise.all([this.ctx.client.hgetall(k.pairingRequests), this.ctx.client.hgetall(k.pairingApproved)]);
    const unreadable: UnreadablePairing[] = [];
    const read = <T>(kind: UnreadablePairing["kind"], entries: Record<string, string>, time: "createdAt" | "approvedAt"): T[] =>
      Object.entries(entries).flatMap(([field, json]) => {
        const entry = readEntry(json, time);
        if (entry) return [entry as T];
        unreadable.push({ kind, field });
        return [];
      });
    return {
      requests: read<PairingRequest>("request", requests, "createdAt")
        .filter((request) => request.expiresAt > now)
        .sort((a, b) => a.createdAt - b.createdAt),
      approved: read<ApprovedUser>("approved", approved, "approvedAt").sort((a, b) => a.approvedAt - b.approvedAt),
      unreadable,
    };
  }
}

/** A stored entry `list` could not read: which hash (requests by code, approved by user id) and its field. */
export interface UnreadablePairing {
  kind: "request" | "approved";
  field: string;
}

export interface PairingList {
  requests: PairingRequest[];
  approved: ApprovedUser[];
  unreadable: UnreadablePairing[];
}

/** One line per unreadable entry, the field quoted (it is whatever was stored). */
export function describeUnreadable(entry: UnreadablePairing): string {
  const what = entry.kind === "request" ? "pairing request" : "paired user";
  return `skipped an unreadable ${what} entry ${quoteInput(entry.field, 40)} (not the JSON the gateway writes)`;
}

/** A numeric Telegram user id as typed (blanks around it ignored); anything else is a usage error. */
export function checkPairingUserId(input: string): string {
  const userId = input.trim();
  if (!/^\d{1,16}$/.test(userId)) throw new GatewayError(`${quoteInput(input, 40)} is not a numeric Telegram user id`, "USAGE");
  return userId;
}

function readEntry(json: string, time: "createdAt" | "approvedAt"): PairingUser | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const entry = value as Record<string, unknown>;
  const ok =
    typeof entry.userId === "string" &&
    typeof entry.code === "string" &&
    typeof entry[time] === "number" &&
    (time === "approvedAt" || typeof entry.expiresAt === "number") &&
    (entry.username === undefined || typeof entry.username === "string") &&
    (entry.name === undefined || typeof entry.name === "string");
  return ok ? (entry as unknown as PairingUser) : undefined;
}
