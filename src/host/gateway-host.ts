/**
 * The host: what the pi extension and the daemon share, written once. It owns the session's
 * consumer (the lease on the session id and the drain of its queues), turns each drained batch
 * into one message for the agent (heartbeats recorded, fed to the watchdog and never competing
 * with real work), runs the central session's watchdog, and journals the agent's replies with
 * HEARTBEAT_OK suppressed.
 *
 * What differs between the two is behind HostAdapter: how a message gets into pi (the extension's
 * custom message, recorded in the session file; the daemon's durable command queue), whether the
 * agent is busy, what the host already holds, and how the user is told things.
 */
import { firstLine, type GatewayBus, type PreviousRegistration, type RepliedEntry } from "../bus/bus.js";
import type { DeliveryBatch, EventConsumer } from "../bus/consumer.js";
import { formatDuration } from "../config/duration.js";
import { DEFAULT_CENTRAL_SESSION } from "../protocol/keys.js";
import type { Logger } from "../util/logger.js";
import { isHeartbeat, messageForBatch, type BatchMessage } from "./batch-message.js";
import { centralWatchdog } from "./central-watchdog.js";
import { isHeartbeatAck } from "./heartbeat.js";
import {
  followOwnership,
  presenceLapsedNotice,
  restartedEvent,
  restartedNotice,
  sessionConsumer,
  type HostSession,
  type OwnershipChange,
} from "./ownership.js";
import type { OwnerLoop } from "./owner-loop.js";
import { startScheduleTicker } from "./schedule-ticker.js";
import { missedHeartbeatMessage, type HeartbeatWatchdog } from "./watchdog.js";

export type { BatchMessage } from "./batch-message.js";
export type { HostSession, OwnershipChange } from "./ownership.js";

/** The missed-heartbeat alarm, for the agent. */
export interface AlarmMessage {
  kind: "alarm";
  text: string;
  elapsedMs: number;
}

export type HostMessage = BatchMessage | AlarmMessage;
export type NoticeLevel = "info" | "warning" | "error";

export interface HostAdapter {
  /** Puts a message into pi; resolves only once it is held durably (throw to hand a batch back). */
  deliver(message: HostMessage): Promise<void>;
  /** Does the agent have other work? A heartbeat alone then only feeds the watchdog. */
  busy(): boolean | Promise<boolean>;
  /** Which of a batch's ids this host already holds (after a crash between delivery and ack). */
  alreadyDelivered(ids: string[]): Set<string> | Promise<Set<string>>;
  /** The session id's lease changed hands (the watchdog already follows it). */
  ownership?(change: OwnershipChange): void;
  /** Something the user should see now (the extension's notices). */
  notify?(message: string, level: NoticeLevel): void;
  /** The connection or ownership state changed (the extension's status bar). */
  changed?(): void;
}

export interface GatewayHostOptions {
  bus: GatewayBus;
  session: HostSession & { heartbeatFile: string; watchdogThresholdMs: number; watchdogCheckMs: number };
  /** What the session registers as: "pi" (the extension) or "daemon". */
  kind: string;
  /** Take the id even from a live holder, once (`daemon --takeover`). */
  takeover?: boolean;
  /** After a predecessor died without shutting down, push a `gateway.session.restarted` event to this session. */
  announceRestarts?: boolean;
  logger: Logger;
  /** Events a message shows one by one, the rest summed up (event-prompt.ts); default SHOWN_EVENTS_MAX. */
  shownMax?: number;
}

export class GatewayHost {
  readonly consumer: EventConsumer;
  /** The central session's watchdog, from start() on; satellites receive no heartbeats and run none. */
  watchdog: HeartbeatWatchdog | undefined;
  /** Heartbeats acknowledged without a turn of their own: the agent was busy, or real events came with them. */
  heartbeatsSkipped = 0;
  lastError: string | undefined;
  private running = false;
  /** Fires due schedules while this host owns the central id (schedule-ticker.ts). */
  private scheduleTicker: OwnerLoop | undefined;
  private readonly log: Logger;

  constructor(
    private readonly options: GatewayHostOptions,
    private readonly adapter: HostAdapter,
  ) {
    this.log = options.logger;
    this.consumer = sessionConsumer(options.bus, options.session, {
      kind: options.kind,
      takeover: options.takeover,
      logger: options.logger,
      deliver: (batch) => this.accept(batch),
      alreadyDelivered: (ids) => adapter.alreadyDelivered(ids),
    });
    followOwnership(this.consumer, (change) => this.ownershipChanged(change));
    this.consumer.on("state", () => adapter.changed?.());
    this.consumer.on("predecessorCrashed", (previous) => this.restarted(previous));
    // The consumer logs it; the user sees it too: events may have been refused or dead-lettered.
    this.consumer.on("presenceLapsed", (lapse) => adapter.notify?.(presenceLapsedNotice(this.options.session, lapse), "warning"));
    this.consumer.on("drainFailed", (error) => {
      this.lastError = error.message;
      this.log.warn({ err: error.message }, "event drain failed; retrying");
    });
  }

  /** Owns the central id (`gateway`): the one who fires schedules and delivers notifications. */
  get ownsCentral(): boolean {
    return this.consumer.owner && this.options.session.sessionId === DEFAULT_CENTRAL_SESSION;
  }

  get session(): GatewayHostOptions["session"] {
    return this.options.session;
  }

  /** Takes the id's lease before start(): false while another live instance holds it (see `consumer.holder`). */
  acquire(): Promise<boolean> {
    return this.consumer.acquire();
  }

  /** Starts the watchdog (central) and the consumer; resolves after the first drain. */
  async start(): Promise<void> {
    this.running = true;
    const { bus, session } = this.options;
    if (session.role === "central") {
      const lastHeartbeat = await bus.lastHeartbeat().catch(() => null);
      if (!this.running) return; // stopped meanwhile
      this.watchdog = centralWatchdog({
        bus,
        sessionId: session.sessionId,
        thresholdMs: session.watchdogThresholdMs,
        checkEveryMs: session.watchdogCheckMs,
        lastHeartbeat,
        isOwner: () => this.consumer.owner,
        onAlarm: (elapsed) => this.alarm(elapsed),
      });
      if (this.consumer.owner) this.watchdog.start();
      this.scheduleTicker = startScheduleTicker(bus, () => this.ownsCentral, this.log);
    }
    // A bare acquire() that found the id held said nothing, and the consumer reports a holder only once.
    if (this.consumer.holder) this.ownershipChanged({ kind: "held", holder: this.consumer.holder });
    await this.consumer.start();
  }

  /** Stops the watchdog and the consumer (which unregisters the session). Idempotent. */
  async stop(): Promise<void> {
    this.running = false;
    this.watchdog?.stop();
    // Side by side: a firing round waiting for Redis must not keep the consumer from stopping.
    await Promise.all([this.scheduleTicker?.stop(), this.consumer.stop()]);
  }

  requestDrain(): void {
    this.consumer.requestDrain();
  }

  /**
   * A `replied` journal entry for `pi-gateway tail` (origin and the reply's first line), except for
   * HEARTBEAT_OK, which goes nowhere. Never throws: the turn is done whatever the journal says.
   */
  async journalReply(entry: Omit<RepliedEntry, "session">): Promise<void> {
    if (isHeartbeatAck(entry.text)) return;
    // In the log too: a reply that went to no channel is still seen by whoever reads the log.
    this.log.info({ requestId: entry.id, channel: entry.channel, types: entry.types, reply: firstLine(entry.text) }, "turn answered");
    await this.options.bus
      .journalReplied({ ...entry, session: this.options.session.sessionId })
      .catch((error: Error) => this.log.warn({ requestId: entry.id, err: error.message }, "could not journal the reply"));
  }

  /** A drained batch: heartbeats recorded and fed to the watchdog, the rest handed to pi as one message. */
  private async accept({ events }: DeliveryBatch): Promise<void> {
    const beats = events.filter(isHeartbeat).length;
    if (beats) {
      this.watchdog?.beat();
      await this.options.bus.recordHeartbeat();
    }
    const message = await messageForBatch(events, {
      heartbeatFile: this.options.session.heartbeatFile,
      busy: () => this.adapter.busy(),
      shownMax: this.options.shownMax,
    });
    if (message?.kind !== "heartbeat" && beats) {
      this.heartbeatsSkipped += beats;
      this.log.info({ id: events.find(isHeartbeat)!.id }, message ? "heartbeat left out: real events came with it" : "heartbeat skipped: agent busy");
    }
    if (message) await this.adapter.deliver(message);
  }

  private alarm(elapsedMs: number): void {
    const text = missedHeartbeatMessage(elapsedMs, this.watchdog?.thresholdMs ?? 0);
    this.log.warn({ elapsedMs }, "missed heartbeat");
    this.adapter.notify?.(`gateway: no heartbeat for ${formatDuration(elapsedMs)}`, "warning");
    this.adapter
      .deliver({ kind: "alarm", text, elapsedMs })
      .catch((error: Error) => this.log.warn({ err: error.message }, "could not deliver the watchdog alarm"));
  }

  /** Held, lost, taken: the watchdog follows the lease, and the front tells its user. */
  private ownershipChanged(change: OwnershipChange): void {
    // Before start() (a bare acquire()) the caller handles the outcome; start() picks up the state.
    if (!this.running) return;
    const session = this.options.session.sessionId;
    if (change.kind === "acquired") {
      this.watchdog?.start();
      if (change.waited) this.log.info({ session }, "took over the session id: its holder is gone");
    } else {
      this.watchdog?.stop();
      if (change.kind === "held") this.log.warn({ session, holder: change.holder }, "session id held by another live instance; not draining");
      else this.log.error({ session, holder: change.holder }, "session id taken over by another instance; stopped draining");
    }
    this.adapter.ownership?.(change);
    this.adapter.changed?.();
  }

  /** Tripwire: the session was restarted after dying; tell the user, and the agent if asked to. */
  private restarted(previous: PreviousRegistration): void {
    const { sessionId } = this.options.session;
    this.log.warn({ previous }, "previous instance of this session died without shutting down");
    if (!this.options.announceRestarts) return;
    this.adapter.notify?.(restartedNotice(sessionId, previous), "warning");
    this.options.bus
      .pushWithRetry(restartedEvent(sessionId, previous))
      .catch((error: Error) => this.log.warn({ err: error.message }, "could not push the restart notice"));
  }
}
