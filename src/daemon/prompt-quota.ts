/**
 * How many prompts one client and one channel may have waiting. Without a cap one client could
 * queue a thousand 100 KB prompts (Redis 111 MB, the daemon 600 MB) and every other user would
 * wait behind them; with it, the extra prompt is refused with a message saying why, at once.
 *
 * Counted in this process from submit to the command's end (answered, dead-lettered): commands
 * replayed after a restart are not counted again, which errs on the side of accepting.
 */
import { GatewayError } from "../bus/errors.js";
import type { InboundMessage } from "./types.js";

export interface PromptQuotaOptions {
  perClient: number;
  perChannel: number;
}

/** A prompt refused because its client or channel has too many waiting. */
export class QuotaExceededError extends GatewayError {
  constructor(message: string) {
    super(message, "QUOTA_EXCEEDED");
  }
}

export class PromptQuota {
  /** Request id → who it counts against. */
  private readonly waiting = new Map<string, { client: string; channel: string }>();
  private readonly perClient = new Map<string, number>();
  private readonly perChannel = new Map<string, number>();

  constructor(private readonly options: PromptQuotaOptions) {}

  /** Throws QuotaExceededError when `message` (a human prompt) would go over a cap. */
  check(message: InboundMessage): void {
    if (message.priority !== "human" || this.waiting.has(message.id)) return;
    const client = clientOf(message);
    if ((this.perClient.get(client) ?? 0) >= this.options.perClient) {
      throw new QuotaExceededError(
        `too many prompts waiting: this client has ${this.options.perClient} queued (GATEWAY_PROMPTS_PER_CLIENT); wait for their replies`,
      );
    }
    if ((this.perChannel.get(message.channel) ?? 0) >= this.options.perChannel) {
      throw new QuotaExceededError(
        `too many prompts waiting on ${message.channel}: ${this.options.perChannel} queued (GATEWAY_PROMPTS_PER_CHANNEL); try again later`,
      );
    }
  }

  /** A human prompt was stored: it counts until release(). */
  add(message: InboundMessage): void {
    if (message.priority !== "human" || this.waiting.has(message.id)) return;
    const client = clientOf(message);
    this.waiting.set(message.id, { client, channel: message.channel });
    bump(this.perClient, client, 1);
    bump(this.perChannel, message.channel, 1);
  }

  /** These commands ended (answered or dead-lettered). */
  release(ids: Iterable<string>): void {
    for (const id of ids) {
      const entry = this.waiting.get(id);
      if (!entry) continue;
      this.waiting.delete(id);
      bump(this.perClient, entry.client, -1);
      bump(this.perChannel, entry.channel, -1);
    }
  }

  /** Prompts counted now (for tests and status). */
  get size(): number {
    return this.waiting.size;
  }
}

/** Who asked: the reply address (a socket, a chat), else the channel itself. */
function clientOf(message: InboundMessage): string {
  return message.replyTo ? `${message.replyTo.channel}:${message.replyTo.to}` : message.channel;
}

function bump(counts: Map<string, number>, key: string, by: number): void {
  const next = (counts.get(key) ?? 0) + by;
  if (next > 0) counts.set(key, next);
  else counts.delete(key);
}
