/**
 * EventConsumer: keeps one session's queues drained into a `deliver` callback with no loss and no
 * double delivery. Shared by the pi extension and the daemon.
 *
 * Every drain claims a batch atomically (claim-8.lua), hands it to `deliver`, and acknowledges it
 * only after `deliver` resolved. If the process dies in between, the lease expires and the batch is
 * handed out again; the optional `alreadyDelivered` check lets a host that can see what it already
 * received (pi's session history) skip those, which closes the last window for a duplicate.
 *
 * Drains are triggered by the session's notify channel, by a safety-net poll, and by every
 * (re)connection, so events pushed during an outage are picked up as soon as Redis is back.
 *
 * A session id has one live owner at a time (its lease, register-5.lua, renewed with presence):
 * a consumer whose id is held by another live instance drains nothing and keeps asking on every
 * presence tick, taking the id when the holder's lease expires; one whose lease was taken stops
 * draining at its next claim, so two instances never split a queue between them.
 */
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { Cluster } from "ioredis";
import type { RedisClient } from "./connection.js";
import type { GatewayEvent } from "../protocol/event.js";
import { presenceIntervalOf } from "../config/bus-options.js";
import { processMemory } from "../util/live-heap.js";
import { silentLogger, type Logger } from "../util/logger.js";
import type { GatewayBus, LeaseHolder, PreviousRegistration, SessionRole } from "./bus.js";
import { connectClient } from "./connection.js";
import { setTimeout as sleep } from "node:timers/promises";
import { NotAcknowledgedError } from "./errors.js";
import { retryPauseMs } from "./producing.js";
import { processGone } from "./lease.js";

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
  /**
   * Most events one claim may take while the backlog is deep (default: the bus's batchSize, so
   * claims never grow). With appendfsync always a drain is bound by round trips (each claim and
   * ack waits for an fsync), not by CPU, so a consumer that falls behind catches up by taking more
   * per round trip: a claim that comes back full doubles the next one, up to this; one that comes
   * back short (the backlog is gone) returns to batchSize, so an idle session still gets small,
   * prompt batches. `deliver` then gets batches of up to this many events.
   */
  maxClaim?: number;
  /** Take the id even from a live holder, once, at the first registration (`daemon --takeover`). */
  takeover?: boolean;
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
  /** Another live instance holds the id: this consumer drains nothing (and keeps checking). */
  held: [LeaseHolder];
  /** This consumer owns the id; `waited`: it took the id after waiting for a holder to go. */
  acquired: [{ waited: boolean }];
  /** Another instance took the id (e.g. `daemon --takeover`): this consumer stopped draining. */
  lost: [LeaseHolder];
  /**
   * This owner's presence lapsed before it renewed it (its process was frozen or Redis was away):
   * pushes to it were refused meanwhile, and it may have been reaped (`reaped`: an ephemeral id's
   * undelivered events were dead-lettered, a durable id's kept).
   */
  presenceLapsed: [PresenceLapse];
}

export interface PresenceLapse {
  /** How long the presence had lapsed (ms) when it was renewed; 0 when unknown (reaped). */
  lapsedMs: number;
  /** The session was reaped meanwhile (its record was gone, or its presence entry removed). */
  reaped: boolean;
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
  /** The live holder of the id while this consumer does not own it. */
  holder: LeaseHolder | undefined;

  private subscriber: RedisClient | undefined;
  private timers: NodeJS.Timeout[] = [];
  private draining: Promise<void> | undefined;
  private drainAgain = false;
  private stopped = false;
  /** Set once start() made the first registration (which is the one that detects a crashed predecessor). */
  private started = false;
  /** Set when start() begins: deliveries may flow from then on (not after a bare acquire()). */
  private starting = false;
  private owned = false;
  private forceTakeover: boolean;
  /** The last presence renewal found a lapsed presence (some session died): reap at this tick. */
  private reapDue = false;
  /** Lease operations run one at a time (presence tick, reconnect and drain may overlap). */
  private leaseOp: Promise<unknown> = Promise.resolve();
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
    const { client } = options.bus;
    const retries = client instanceof Cluster ? client.options.redisOptions?.maxRetriesPerRequest : client.options.maxRetriesPerRequest;
    if (retries !== null) {
      throw new Error("EventConsumer needs a persistent client: GatewayBus.connect({ persistent: true })");
    }
    this.log = options.logger ?? silentLogger;
    this.queues = [...new Set([options.sessionId, ...(options.extraQueues ?? [])])];
    this.forceTakeover = options.takeover ?? false;
  }

  /** Does this consumer hold the id's lease (and so drain its queues)? */
  get owner(): boolean {
    return this.owned;
  }

  get sessionId(): string {
    return this.options.sessionId;
  }

  /** Registers the session, subscribes, recovers what a dead predecessor left and drains. */
  async start(): Promise<void> {
    const { bus } = this;
    this.starting = true;
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

    if (!this.owned) await this.registerAndRecover();
    this.started = true;
    this.setState(bus.client.status === "ready" ? "connected" : "reconnecting");

    this.every(presenceIntervalOf(bus.options), () => this.maintain());
    const { pollIntervalMs } = bus.options;
    this.every(pollIntervalMs, () => this.requestDrain());
    await this.drain();
  }

  /**
   * Takes the id's lease now, before start(): false when another live instance holds it (see
   * `holder`). The daemon calls it first so that a second daemon refuses to run at all.
   */
  acquire(): Promise<boolean> {
    return this.registerAndRecover();
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
    // Not before start(): a host may acquire() the id before it is ready to take deliveries.
    if (this.stopped || !this.owned || !this.starting) return;
    // A drain in progress runs once more anyway. Not one more handler on its promise per request:
    // a busy central gets a notification per pushed event, and at 5,000 ev/s a drain that never
    // ends while events keep coming collected 300,000 of them in a minute (and a failure of that
    // drain was reported once per handler).
    if (this.draining) {
      this.drainAgain = true;
      return;
    }
    void this.drain().catch((error: Error) => this.emit("drainFailed", error));
  }

  /** Drains every queue until empty. Resolves when done (including a re-run requested meanwhile). */
  drain(): Promise<void> {
    if (!this.owned) return Promise.resolve();
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
    const base = this.bus.options.batchSize;
    const most = Math.max(base, this.options.maxClaim ?? base);
    let count = base;
    while (!this.stopped) {
      if (!this.owned) return;
      // The claim itself checks the lease: a takeover stops this consumer at its next claim.
      const claimed = await this.bus.claim(queue, count, { session: this.sessionId, instance: this.instance });
      // Every entry the claim took off the queue, delivered or not: all `count` means more are waiting.
      const taken = claimed.events.length + claimed.duplicates + claimed.deadLettered;
      count = taken >= count ? Math.min(count * 2, most) : base;
      if (claimed.displaced) {
        await this.displaced(); // learns who holds the id now, and says so
        return;
      }
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
          await this.acknowledge(queue, skipped);
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
      await this.acknowledge(queue, ids);
      this.stats.delivered += events.length;
      this.stats.batches += 1;
      this.stats.lastDeliveryAt = Date.now();
      this.emit("delivered", batch);
    }
  }

  /**
   * Acks a delivered batch; on a cluster, again with the same ids while no replica confirms it
   * (NotAcknowledgedError, docs/cluster.md §5): an ack a failover lost would hand the batch out again
   * after its lease. ack-4.lua is idempotent (a repeat finds nothing in flight and re-marks the ids
   * delivered). Stopping ends the retries: the lease then hands the batch back, and `alreadyDelivered`
   * keeps it from being delivered twice.
   */
  private async acknowledge(queue: string, ids: string[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.bus.ack(queue, ids);
        return;
      } catch (error) {
        if (!(error instanceof NotAcknowledgedError) || this.stopped) throw error;
        if (attempt === 1) this.log.warn({ queue, count: ids.length, err: error.message }, "ack not confirmed by a replica; retrying");
        await sleep(retryPauseMs(attempt));
      }
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
      await this.registerAndRecover();
    } catch (error) {
      this.log.warn({ err: (error as Error).message }, "re-register after reconnect failed");
    }
    this.requestDrain();
  }

  /**
   * Presence refresh (every presence interval), reaping of dead sessions and recovery of expired
   * leases, each only when the refresh found one due: an idle tick is one script.
   */
  private async maintain(): Promise<void> {
    if (this.stopped || !this.started || this.bus.client.status !== "ready") return;
    try {
      await this.registerAndRecover();
      if (!this.reapDue) return;
      this.reapDue = false;
      const reaped = await this.bus.reapExpired();
      for (const r of reaped) this.log.info(r, "reaped a dead session");
    } catch (error) {
      this.log.warn({ err: (error as Error).message }, "presence maintenance failed");
    }
  }

  /** Takes or renews the lease (one operation at a time); false while another instance holds it. */
  private registerAndRecover(): Promise<boolean> {
    const run = this.leaseOp.then(() => this.renewLease());
    this.leaseOp = run.catch(() => undefined);
    return run;
  }

  private async renewLease(): Promise<boolean> {
    const registration = {
      id: this.sessionId,
      role: this.options.role,
      durable: this.options.durable,
      instance: this.instance,
      kind: this.options.kind ?? "pi",
      queues: this.queues,
      // Published with every tick (`pi-gateway sessions --json`): a pi's memory is readable only from inside it.
      memory: processMemory(),
    };
    let result = await this.bus.register(registration, { takeover: this.forceTakeover ? "force" : undefined, renew: this.owned });
    if (result.status === "held" && processGone(result.holder)) {
      // The holder's process is gone (same host): take its place now rather than when its lease
      // runs out, but only from that holder, so two successors of one dead holder cannot both win.
      result = await this.bus.register(registration, { takeover: result.holder.instance });
    }
    if (result.status === "held") {
      this.heldBy(result.holder);
      return false;
    }
    this.forceTakeover = false;
    this.reapDue = result.reapDue;
    const acquiring = !this.owned;
    if (!acquiring) this.checkLapse(result.previous, result.at);
    this.owned = true;
    this.holder = undefined;
    if (acquiring) await this.takeOver(result.previous);
    else if (result.recoverDue) await this.recover(false);
    return true;
  }

  /**
   * A renewal that finds this owner's presence lapsed (or its record reaped) says so: events
   * pushed to it meanwhile were refused, or dead-lettered by the reaping, never silently.
   */
  private checkLapse(previous: PreviousRegistration, at: number): void {
    const mine = previous.instance === this.instance;
    if (mine && previous.presenceDeadline >= at) return;
    const lapse: PresenceLapse = {
      lapsedMs: mine && previous.presenceDeadline ? at - previous.presenceDeadline : 0,
      reaped: !mine || !previous.presenceDeadline,
    };
    const durable = this.options.durable;
    this.log.warn(
      { session: this.sessionId, ...lapse },
      lapse.reaped
        ? `presence lapsed and the session was reaped: ${durable ? "its queue was kept" : "its undelivered events were dead-lettered (pi-gateway dead-letters)"}; registered again`
        : "presence lapsed: pushes to this session were refused meanwhile; renewed",
    );
    this.emit("presenceLapsed", lapse);
  }

  /** This consumer just got the id: recover what its predecessor left, tell the host. */
  private async takeOver(previous: PreviousRegistration): Promise<void> {
    // A previous instance of this session that is provably dead (same host, process gone, or its
    // presence lapsed) cannot ack anything any more: take its in-flight events back right away
    // instead of waiting for their leases.
    const replaced = previous.instance !== "" && previous.instance !== this.instance;
    const predecessorDead = replaced && (await this.predecessorIsDead(previous));
    // A clean shutdown drops the presence entry; one that is still there means the process died.
    if (predecessorDead && previous.presenceDeadline > 0) this.emit("predecessorCrashed", previous);
    await this.recover(predecessorDead);
    if (this.started) this.log.info({ session: this.sessionId }, "took over the session id: its holder is gone");
    this.emit("acquired", { waited: this.started });
    this.requestDrain();
  }

  private async recover(all: boolean): Promise<void> {
    let recovered = 0;
    for (const queue of this.queues) {
      if (all) recovered += await this.bus.recoverAll(queue);
      else recovered += await this.bus.recoverExpired(queue);
    }
    if (recovered) {
      this.log.info({ recovered }, "re-queued events left unacknowledged");
      this.requestDrain();
    }
  }

  /** Another live instance holds the id: drain nothing, and say so once per holder. */
  private heldBy(holder: LeaseHolder): void {
    const wasOwner = this.owned;
    const newHolder = this.holder?.instance !== holder.instance;
    this.owned = false;
    this.holder = holder;
    // The host tells its user (the daemon's exit line, the extension's notice): debug only here.
    if (wasOwner) {
      this.log.debug({ session: this.sessionId, holder }, "the session id was taken over by another instance; stopped draining");
      this.emit("lost", holder);
    } else if (newHolder) {
      this.log.debug({ session: this.sessionId, holder }, "the session id is held by another live instance; not draining");
      this.emit("held", holder);
    }
  }

  /**
   * After a claim found the lease taken (`daemon --takeover`, or this process frozen past its
   * lease): this consumer stops at once, not at its next presence tick, so it never keeps draining
   * next to the new owner. At most the batch already in hand is finished.
   */
  private async displaced(): Promise<void> {
    const holder = await this.bus.leaseHolder(this.sessionId);
    this.heldBy(holder ?? { sessionId: this.sessionId, instance: "", kind: "another instance", pid: undefined, host: "", since: 0, expires: 0, role: "" });
  }

  private async predecessorIsDead(previous: { pid: number | undefined; host: string; presenceDeadline: number }): Promise<boolean> {
    return previous.presenceDeadline < (await this.bus.serverTime()) || processGone(previous);
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
