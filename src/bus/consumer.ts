/**
 * EventConsumer: keeps one session's queues drained into a `deliver` callback with no loss and no
 * double delivery. Shared by the pi extension and the daemon.
 *
 * Every drain claims a batch atomically (claim-6.lua), hands it to `deliver`, and acknowledges it
 * only after `deliver` resolved. If the process dies in between, the lease expires and the batch is
 * handed out again; the optional `alreadyDelivered` check lets a host that can see what it already
 * received (pi's session history) skip those, which closes the last window for a duplicate.
 *
 * Drains are triggered by the session's notify channel, by a safety-net poll, and by every
 * (re)connection, so events pushed during an outage are picked up as soon as Redis is back.
 */
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { hostname } from "node:os";
import type { Redis } from "ioredis";
import type { GatewayEvent } from "../protocol/event.js";
import { silentLogger, type Logger } from "../util/logger.js";
import { processAlive } from "../util/process.js";
import type { GatewayBus, PreviousRegistration, SessionRole } from "./bus.js";
import { connectClient } from "./connection.js";

export type ConnectionState = "connecting" | "connected" | "reconnecting" | "disconnected";

export interface DeliveryBatch {
  /** The queue (session id) the batch came from. */
  queue: string;
  events: GatewayEvent[];
}

export interface ConsumerOptions {
  bus: GatewayBus;
  sessionId: string;
  role: SessionRole;
  /** Stable ids keep their queue while down; ephemeral ones are reaped when they die. */
  durable: boolean;
  /** Queues drained besides the session's own; a central session also drains the legacy `main`. */
  extraQueues?: string[];
  /**
   * Receives each batch; resolve only once the host has the events durably (pi's session file,
   * the daemon's stored command), throw to hand them back. The batch's lease is renewed for as
   * long as this takes.
   */
  deliver: (batch: DeliveryBatch) => Promise<void>;
  /** Ids (of a batch) the host already has, e.g. after a crash between deliver and ack. */
  alreadyDelivered?: (ids: string[]) => Promise<Set<string>> | Set<string>;
  kind?: string;
  logger?: Logger;
}

interface ConsumerEvents {
  state: [ConnectionState];
  delivered: [DeliveryBatch];
  deadLettered: [number];
  /** A drain failed (delivery refused or Redis error); it is retried on the next trigger. */
  drainFailed: [Error];
  /** The previous instance of this session ended without shutting down (crash, kill -9, power loss). */
  predecessorCrashed: [PreviousRegistration];
}

export interface ConsumerStats {
  delivered: number;
  duplicates: number;
  deadLettered: number;
  batches: number;
  lastDeliveryAt: number | null;
}

export class EventConsumer extends EventEmitter<ConsumerEvents> {
  readonly instance = randomUUID();
  readonly queues: string[];
  readonly stats: ConsumerStats = { delivered: 0, duplicates: 0, deadLettered: 0, batches: 0, lastDeliveryAt: null };
  state: ConnectionState = "connecting";

  private subscriber: Redis | undefined;
  private timers: NodeJS.Timeout[] = [];
  private draining: Promise<void> | undefined;
  private drainAgain = false;
  private stopped = false;
  /** Set once start() made the first registration (which is the one that detects a crashed predecessor). */
  private started = false;
  private readonly log: Logger;
  private readonly bus: GatewayBus;
  private readonly onReady = () => this.onConnected();
  private readonly onReconnecting = () => this.setState("reconnecting");
  private readonly onClose = () => {
    if (!this.stopped) this.setState("disconnected");
  };

  constructor(private readonly options: ConsumerOptions) {
    super();
    this.bus = options.bus;
    // A consumer lives through Redis outages: its commands must wait for the reconnect, not fail.
    if (options.bus.client.options.maxRetriesPerRequest !== null) {
      throw new Error("EventConsumer needs a persistent client: GatewayBus.connect({ persistent: true })");
    }
    this.log = options.logger ?? silentLogger;
    this.queues = [...new Set([options.sessionId, ...(options.extraQueues ?? [])])];
  }

  get sessionId(): string {
    return this.options.sessionId;
  }

  /** Registers the session, subscribes, recovers what a dead predecessor left and drains. */
  async start(): Promise<void> {
    const { bus } = this;
    bus.client.on("ready", this.onReady);
    bus.client.on("reconnecting", this.onReconnecting);
    bus.client.on("close", this.onClose);

    const subscriber = bus.duplicateClient(`pi-gateway:sub:${this.sessionId}`);
    this.subscriber = subscriber;
    subscriber.on("message", () => this.requestDrain());
    // ioredis re-subscribes by itself after a reconnect; a drain catches what was published meanwhile.
    subscriber.on("ready", () => this.requestDrain());
    await connectClient(subscriber, bus.options.redisUrl, bus.options.connectTimeoutMs).catch((error: Error) => {
      this.log.warn({ err: error.message }, "subscriber not connected yet; will keep retrying");
    });
    await subscriber.subscribe(...this.queues.map((q) => bus.keys.notify(q)));

    await this.registerAndRecover(true);
    this.started = true;
    this.setState(bus.client.status === "ready" ? "connected" : "reconnecting");

    const { presenceTtlMs, pollIntervalMs } = bus.options;
    this.every(Math.max(Math.floor(presenceTtlMs / 3), 250), () => this.maintain());
    this.every(pollIntervalMs, () => this.requestDrain());
    await this.drain();
  }

  /** Unsubscribes, clears timers and takes the session out of service. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    const { client } = this.bus;
    client.off("ready", this.onReady);
    client.off("reconnecting", this.onReconnecting);
    client.off("close", this.onClose);
    await this.draining?.catch(() => undefined);
    this.subscriber?.disconnect();
    this.subscriber = undefined;
    if (client.status === "ready") {
      await this.bus.unregister(this.sessionId, this.instance).catch((error: Error) => {
        this.log.warn({ err: error.message }, "could not unregister session");
      });
    }
    this.setState("disconnected");
  }

  /** Drains now, or right after the drain in progress (never two at once). */
  requestDrain(): void {
    if (this.stopped) return;
    void this.drain().catch((error: Error) => this.emit("drainFailed", error));
  }

  /** Drains every queue until empty. Resolves when done (including a re-run requested meanwhile). */
  drain(): Promise<void> {
    if (this.draining) {
      this.drainAgain = true;
      return this.draining;
    }
    this.draining = (async () => {
      try {
        do {
          this.drainAgain = false;
          for (const queue of this.queues) await this.drainQueue(queue);
        } while (this.drainAgain && !this.stopped);
      } finally {
        this.draining = undefined;
      }
    })();
    return this.draining;
  }

  private async drainQueue(queue: string): Promise<void> {
    while (!this.stopped) {
      const claimed = await this.bus.claim(queue);
      this.stats.duplicates += claimed.duplicates;
      if (claimed.deadLettered) {
        this.stats.deadLettered += claimed.deadLettered;
        this.log.warn({ queue, count: claimed.deadLettered }, "malformed entries moved to the dead-letter list");
        this.emit("deadLettered", claimed.deadLettered);
      }
      if (claimed.events.length === 0) {
        if (claimed.duplicates || claimed.deadLettered) continue;
        return;
      }
      let events = claimed.events;
      if (this.options.alreadyDelivered) {
        const had = await this.options.alreadyDelivered(events.map((e) => e.id));
        if (had.size) {
          const skipped = events.filter((e) => had.has(e.id)).map((e) => e.id);
          await this.bus.ack(queue, skipped);
          this.stats.duplicates += skipped.length;
          events = events.filter((e) => !had.has(e.id));
        }
      }
      if (!events.length) continue;
      const ids = events.map((e) => e.id);
      const batch = { queue, events };
      try {
        await this.holding(queue, ids, () => this.options.deliver(batch));
      } catch (error) {
        // Hand the batch back in its original order; the next trigger retries it.
        await this.bus.release(queue, ids);
        this.log.warn({ queue, err: (error as Error).message }, "delivery failed; events handed back");
        throw error;
      }
      await this.bus.ack(queue, ids);
      this.stats.delivered += events.length;
      this.stats.batches += 1;
      this.stats.lastDeliveryAt = Date.now();
      this.emit("delivered", batch);
    }
  }

  /**
   * Runs `deliver` while keeping the batch's lease alive: a host may hold a batch for as long as
   * its running turn takes before it has recorded it, and only a consumer that died (no more
   * renewals) lets the lease expire so the batch is handed out again.
   */
  private async holding(queue: string, ids: string[], deliver: () => Promise<void>): Promise<void> {
    const everyMs = Math.max(Math.floor(this.bus.options.leaseMs / 3), 50);
    const timer = setInterval(() => {
      this.bus
        .renew(queue, ids)
        .then((held) => {
          if (held < ids.length) this.log.warn({ queue, held, of: ids.length }, "part of a held batch had already been handed back (lease expired)");
        })
        .catch((error: Error) => this.log.warn({ queue, err: error.message }, "could not renew the lease of a held batch"));
    }, everyMs);
    timer.unref();
    try {
      await deliver();
    } finally {
      clearInterval(timer);
    }
  }

  private async onConnected(): Promise<void> {
    if (this.stopped) return;
    this.setState("connected");
    if (!this.started) return;
    try {
      await this.registerAndRecover(false);
    } catch (error) {
      this.log.warn({ err: (error as Error).message }, "re-register after reconnect failed");
    }
    this.requestDrain();
  }

  /** Presence refresh, reaping of dead sessions, recovery of expired leases. */
  private async maintain(): Promise<void> {
    if (this.stopped || !this.started || this.bus.client.status !== "ready") return;
    try {
      await this.registerAndRecover(false);
      const reaped = await this.bus.reapExpired();
      for (const r of reaped) this.log.info(r, "reaped a dead session");
    } catch (error) {
      this.log.warn({ err: (error as Error).message }, "presence maintenance failed");
    }
  }

  private async registerAndRecover(starting: boolean): Promise<void> {
    const previous = await this.bus.register({
      id: this.sessionId,
      role: this.options.role,
      durable: this.options.durable,
      instance: this.instance,
      kind: this.options.kind ?? "pi",
    });
    // A previous instance of this session that is provably dead (same host, process gone, or its
    // presence lapsed) cannot ack anything any more: take its in-flight events back right away
    // instead of waiting for their leases.
    const takeover = starting && previous.instance !== "" && previous.instance !== this.instance;
    const predecessorDead = takeover && (await this.predecessorIsDead(previous));
    // A clean shutdown drops the presence entry; one that is still there means the process died.
    if (predecessorDead && previous.presenceDeadline > 0) this.emit("predecessorCrashed", previous);
    let recovered = 0;
    for (const queue of this.queues) {
      if (predecessorDead) recovered += await this.bus.recoverAll(queue);
      else recovered += await this.bus.recoverExpired(queue);
    }
    if (recovered) {
      this.log.info({ recovered }, "re-queued events left unacknowledged");
      this.requestDrain();
    }
  }

  private async predecessorIsDead(previous: { pid: number | undefined; host: string; presenceDeadline: number }): Promise<boolean> {
    if (previous.presenceDeadline < (await this.bus.serverTime())) return true;
    if (previous.host !== hostname() || !previous.pid) return false;
    return !processAlive(previous.pid);
  }

  private every(ms: number, fn: () => void | Promise<void>): void {
    const timer = setInterval(() => void fn(), ms);
    timer.unref();
    this.timers.push(timer);
  }

  private setState(state: ConnectionState): void {
    if (state === this.state) return;
    this.state = state;
    this.emit("state", state);
  }
}
