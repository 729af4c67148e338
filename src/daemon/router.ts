/**
 * Outbound router: sends each command's reply events back where the command came from. Every
 * command gets its own route (nothing like a global "current channel"), so replies of concurrent
 * channels never cross. Commands without a reply address (events, heartbeats, alarms) report to
 * the owner channel, final text only. A HEARTBEAT_OK reply is never forwarded anywhere.
 *
 * Every turn, whoever asked, is also shown live to the channels that broadcast (the WebSocket's
 * clients: the web page, `pi-gateway chat`): start (with the origin), tools, deltas, end. The asker
 * is left out of the broadcast, it already gets the same events. A heartbeat turn is held back
 * until its end, so a HEARTBEAT_OK ("nothing to report") never shows up, not even as deltas.
 */
import { isHeartbeatAck } from "../host/heartbeat.js";
import type { Logger } from "../util/logger.js";
import type { Channel, InboundMessage, OwnerNotice, ReplyAddress, ReplyEvent } from "./types.js";

export class OutboundRouter {
  private readonly channels = new Map<string, Channel>();

  constructor(
    private readonly owner: ReplyAddress | undefined,
    private readonly logger: Logger,
  ) {}

  register(channel: Channel): void {
    this.channels.set(channel.name, channel);
  }

  /**
   * A notification: to every channel that shows notifications to its clients, and to the owner's
   * address (Telegram) as a message. Resolves with the channels it went to.
   */
  async notify(notice: OwnerNotice): Promise<string[]> {
    const reached: string[] = [];
    for (const channel of this.channels.values()) {
      if (!channel.notify) continue;
      await channel.notify(notice).then(
        () => reached.push(channel.name),
        (error: Error) => this.logger.warn({ channel: channel.name, err: error.message }, "notification broadcast failed"),
      );
    }
    const owner = this.owner && this.channels.get(this.owner.channel);
    if (this.owner && owner && !owner.notify) {
      if (owner.deliverNotice) await owner.deliverNotice(this.owner.to, notice);
      else {
        const text = notice.file ? `${notice.text}\n(file: ${notice.file})` : notice.text;
        await owner.deliver(this.owner.to, { type: "end", requestId: `notify:${notice.id}`, text });
      }
      reached.push(owner.name);
    }
    return reached;
  }

  /** The route for one command. */
  open(message: InboundMessage): ReplyRoute {
    const target = message.replyTo ?? this.owner;
    const channel = target ? this.channels.get(target.channel) : undefined;
    if (target && !channel) this.logger.warn({ channel: target.channel, request: message.id }, "reply channel is not running; reply dropped");
    const broadcast = new Broadcast([...this.channels.values()], message.replyTo, message.priority === "heartbeat", this.logger);
    return new ReplyRoute(channel, target, message.replyTo !== undefined, this.logger, broadcast);
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
    private readonly broadcast?: Broadcast,
  ) {}

  send(event: ReplyEvent): void {
    const ack = event.type === "end" && isHeartbeatAck(event.text);
    // Closes a request quietly: HEARTBEAT_OK goes nowhere.
    if (ack) event = { ...event, text: "" } as ReplyEvent;
    if (ack) this.suppressed = true;
    this.broadcast?.send(event, ack);
    if (!this.channel || !this.target) return;
    // Someone did ask (rare: a human typed a heartbeat-like prompt): they get the quiet end.
    if (ack && !this.interactive) return;
    if (!this.interactive && event.type !== "end" && event.type !== "error") return;
    if (!this.interactive && event.type === "end" && !event.text.trim()) return;
    const { channel, target } = this;
    this.chain = this.chain.then(() =>
      channel.deliver(target.to, event).catch((error: Error) => {
        this.logger.warn({ channel: channel.name, to: target.to, err: error.message }, "reply delivery failed");
      }),
    );
  }

  /** Resolves when everything sent so far has been handed to the channels. */
  flush(): Promise<void> {
    return Promise.all([this.chain, this.broadcast?.flush()]).then(() => undefined);
  }
}

/** One turn's events for every broadcasting channel, in order; held until the end for heartbeat turns. */
class Broadcast {
  private chain: Promise<void> = Promise.resolve();
  private held: ReplyEvent[] | undefined;

  constructor(
    private readonly channels: Channel[],
    private readonly asker: ReplyAddress | undefined,
    holdUntilEnd: boolean,
    private readonly logger: Logger,
  ) {
    if (holdUntilEnd) this.held = [];
  }

  /** `ack`: the turn ended with HEARTBEAT_OK: nothing held goes out, and the end only to close a streamed turn. */
  send(event: ReplyEvent, ack: boolean): void {
    if (this.held) {
      if (event.type !== "end" && event.type !== "error") {
        this.held.push(event);
        return;
      }
      const held = this.held;
      this.held = undefined;
      if (ack) return;
      for (const earlier of held) this.emit(earlier);
    }
    this.emit(event);
  }

  flush(): Promise<void> {
    return this.chain;
  }

  private emit(event: ReplyEvent): void {
    for (const channel of this.channels) {
      if (!channel.broadcast) continue;
      const exclude = this.asker?.channel === channel.name ? this.asker.to : undefined;
      this.chain = this.chain.then(() =>
        channel.broadcast!(event, exclude).catch((error: Error) => {
          this.logger.warn({ channel: channel.name, err: error.message }, "live broadcast failed");
        }),
      );
    }
  }
}
