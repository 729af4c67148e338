/**
 * What happens to a message from a user on no allowlist. With pairing (a bus to keep requests in),
 * a private chat gets a one-time code the owner approves (`pi-gateway pair approve <code>`, the
 * web page), once per code: later messages while it is live get no answer (logged). Nothing of
 * theirs reaches the agent. Groups never get codes (a stranger in a group would make the bot talk
 * there); without pairing, strangers get nothing at all, as before. Approved users live in Redis.
 */
import type { Context } from "grammy";
import type { PairingLimits, PairingStore } from "../../bus/pairing.js";
import type { Logger } from "../../util/logger.js";
import { describeError } from "./replies.js";

export interface PairingOptions {
  /** The store (the daemon's bus); undefined while it is not connected. */
  store: () => PairingStore | undefined;
  limits: PairingLimits;
}

export type GateVerdict = "allowed" | "blocked";

export class PairingGate {
  /** user id -> when they were last told that pairing is full (told again after a TTL). */
  private readonly fullNotices = new Map<number, number>();

  constructor(
    private readonly options: PairingOptions | undefined,
    private readonly logger: () => Logger,
  ) {}

  /** True when an approved (paired) user sends this; throws when the store can't be asked (the update is retried). */
  async isApproved(userId: number | undefined): Promise<boolean> {
    const store = this.options?.store();
    if (userId === undefined || !store) return false;
    return store.isApproved(userId);
  }

  /** A sender on no allowlist and not paired: a code (once), or nothing. "allowed" if approved meanwhile. */
  async unknownSender(ctx: Context): Promise<GateVerdict> {
    const chat = ctx.chat;
    const from = ctx.from;
    const fields = { chatId: chat?.id, userId: from?.id, username: from?.username, updateId: ctx.update.update_id };
    const store = this.options?.store();
    if (!store || !chat || !from || chat.type !== "private" || from.is_bot) {
      this.logger().warn(fields, "telegram: ignored a message from a sender not on the allowlist");
      return "blocked";
    }
    const name = [from.first_name, from.last_name].filter(Boolean).join(" ");
    const ask = await store.request(
      { userId: String(from.id), ...(from.username ? { username: from.username } : {}), ...(name ? { name } : {}) },
      this.options!.limits,
    );
    if (ask.status === "approved") return "allowed";
    if (ask.status === "pending") {
      this.logger().info({ ...fields, code: ask.code }, "telegram: unknown sender with a pending pairing code; message not passed on");
      return "blocked";
    }
    if (ask.status === "full") {
      this.logger().warn(fields, "telegram: pairing requests are full (GATEWAY_PAIRING_MAX); unknown sender refused");
      await this.tellFull(ctx, chat.id, from.id);
      return "blocked";
    }
    this.logger().warn({ ...fields, code: ask.code }, `telegram: pairing requested; approve with: pi-gateway pair approve ${ask.code}`);
    const minutes = Math.round(this.options!.limits.ttlMs / 60_000);
    const text =
      `🔐 This bot is private. Your pairing code: ${ask.code}\n` +
      `Ask its owner to approve it (pi-gateway pair approve ${ask.code}); it is valid for ${minutes} min. ` +
      `Until then your messages are not passed on.`;
    await ctx.api.sendMessage(chat.id, text).catch((error: unknown) => {
      this.logger().warn({ ...fields, err: describeError(error) }, "telegram: could not send the pairing code");
    });
    return "blocked";
  }

  private async tellFull(ctx: Context, chatId: number, userId: number): Promise<void> {
    const now = Date.now();
    if ((this.fullNotices.get(userId) ?? 0) > now) return;
    this.fullNotices.set(userId, now + this.options!.limits.ttlMs);
    if (this.fullNotices.size > 1000) this.fullNotices.delete(this.fullNotices.keys().next().value!);
    await ctx.api.sendMessage(chatId, "🔐 This bot is private and too many pairing requests are waiting; please try again later.").catch((error: unknown) => {
      this.logger().warn({ chatId, err: describeError(error) }, "telegram: could not tell an unknown sender that pairing is full");
    });
  }
}
