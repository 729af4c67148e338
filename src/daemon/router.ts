/**
 * Outbound router: sends each command's reply events back where the command came from. Every
 * command gets its own route (nothing like a global "current channel"), so replies of concurrent
 * channels never cross. Commands without a reply address (events, heartbeats, alarms) report to
 * the owner channel, final text only. A HEARTBEAT_OK reply is never forwarded anywhere.
 */
import { isHeartbeatAck } from "../agent/heartbeat.js";
import type { Logger } from "../util/logger.js";
import type { Channel, InboundMessage, ReplyAddress, ReplyEvent } from "./types.js";

export class OutboundRouter {
  private readonly channels = new Map<string, Channel>();

  constructor(
    private readonly owner: ReplyAddress | undefined,
    private readonly logger: Logger,
  ) {}

  register(channel: Channel): void {
    this.channels.set(channel.name, channel);
  }

  /** The route for one command. */
  open(message: InboundMessage): ReplyRoute {
    const target = message.replyTo ?? this.owner;
    const channel = target ? this.channels.get(target.channel) : undefined;
    if (target && !channel) this.logger.warn({ channel: target.channel, request: message.id }, "reply channel is not running; reply dropped");
    return new ReplyRoute(channel, target, message.replyTo !== undefined, this.logger);
  }
}

export class ReplyRoute {
  suppressed = false;
  /** Deliveries of one route go out one after another, in order. */
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly channel: Channel | undefined,
    private readonly target: ReplyAddress | undefined,
    /** Someone asked and is waiting: stream everything. Otherwise only the outcome goes out. */
    private readonly interactive: boolean,
    private readonly logger: Logger,
  ) {}

  send(event: ReplyEvent): void {
    if (!this.channel || !this.target) return;
    if (event.type === "end" && isHeartbeatAck(event.text)) {
      this.suppressed = true;
      if (!this.interactive) return;
      // Someone did ask (rare: a human typed a heartbeat-like prompt): close their request quietly.
      event = { ...event, text: "" };
    }
    if (!this.interactive && event.type !== "end" && event.type !== "error") return;
    if (!this.interactive && event.type === "end" && !event.text.trim()) return;
    const { channel, target } = this;
    this.chain = this.chain.then(() =>
      channel.deliver(target.to, event).catch((error: Error) => {
        this.logger.warn({ channel: channel.name, to: target.to, err: error.message }, "reply delivery failed");
      }),
    );
  }

  /** Resolves when everything sent so far has been handed to the channel. */
  flush(): Promise<void> {
    return this.chain;
  }
}
