/**
 * What the extension runs while a pi session is up: the gateway host (consumer, ownership,
 * heartbeats, watchdog, reply journal) with pi's extension API behind its adapter, the automatic
 * role, a satellite's view of its central, and the status bar.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { ExtensionAPI, ExtensionContext } from "@mariozechner/pi-coding-agent";
import { GatewayBus, type LeaseHolder } from "../bus/bus.js";
import { describeHolder } from "../bus/lease.js";
import { presenceIntervalOf, type BusOptions } from "../config/bus-options.js";
import { satelliteOf, type SessionOptions } from "../config/session-options.js";
import { GatewayHost, type HostAdapter, type HostMessage, type NoticeLevel, type OwnershipChange } from "../host/gateway-host.js";
import { detailsFor } from "../host/gateway-message.js";
import { textOf } from "../host/message-text.js";
import { DEFAULT_CENTRAL_SESSION } from "../protocol/keys.js";
import type { Logger } from "../util/logger.js";
import { gatewayDetails, PiInjector } from "./injector.js";
import { gatewayReport, statusText, type StatusSnapshot } from "./status.js";

const STATUS_KEY = "gateway";

export class GatewayRuntime {
  /**
   * Made once Redis first answers (GatewayBus.openPatiently: a single Redis or a cluster, as it
   * answers); undefined while pi runs without it, which is never waited for.
   */
  bus: GatewayBus | undefined;
  readonly injector: PiInjector;
  /** Created once the role is known (at once, or once Redis answers for an automatic role). */
  host: GatewayHost | undefined;
  /** The session as it runs: for an automatic role, what was decided once Redis answered. */
  session: SessionOptions;
  private decided: boolean;
  /** Who holds the central id, as seen by a satellite (shown in the status bar and /gateway). */
  private central: LeaseHolder | undefined;
  private centralTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private ctx: ExtensionContext | undefined;
  private lastError: string | undefined;
  /** Why the bus is not there yet (the last failed attempt), shown by the status bar and /gateway. */
  private waitingFor: string | undefined;
  private readonly opening = new AbortController();

  constructor(
    pi: ExtensionAPI,
    ctx: ExtensionContext,
    session: SessionOptions,
    private readonly busOptions: BusOptions,
    readonly log: Logger,
  ) {
    this.ctx = ctx;
    this.session = session;
    this.decided = !session.autoRole;
    this.injector = new PiInjector(pi, () => this.ctx, session.deliverAs, session.acceptTimeoutMs);
  }

  private createHost(bus: GatewayBus, session: SessionOptions): GatewayHost {
    return new GatewayHost({ bus, session, kind: "pi", announceRestarts: true, logger: this.log }, this.adapter);
  }

  /** What differs from the daemon: pi's custom messages, pi's idle state, pi's UI. */
  private readonly adapter: HostAdapter = {
    deliver: (message) => this.deliver(message),
    busy: () => !(this.ctx?.isIdle() ?? true),
    alreadyDelivered: (ids) => this.injector.alreadyDelivered(ids),
    ownership: (change) => this.ownershipChanged(change),
    notify: (message, level) => this.notify(message, level),
    changed: () => this.showStatus(),
  };

  /** Starts in the background: pi must not wait for (or fail because of) Redis. */
  start(): void {
    // Children of this session (background jobs started from its shell) report back to it.
    if (this.decided) process.env.GATEWAY_SESSION_ID = this.session.sessionId;
    this.showStatus();
    // What this session already holds, from its own records: a batch handed out again after a
    // crash is acknowledged, not shown twice.
    this.injector.indexSession();
    void this.run().catch((error: Error) => {
      if (this.stopped) return;
      this.lastError = error.message;
      this.log.error({ err: error.message }, "gateway consumer failed to start");
      this.notify(`gateway: ${error.message}`, "error");
      this.showStatus();
    });
  }

  /** Opens the bus in the background, trying again while Redis is unreachable (the status bar says so). */
  private async openBus(): Promise<GatewayBus> {
    const name = `pi-gateway:${this.session.autoRole ? "auto" : this.session.sessionId}`;
    const bus = await GatewayBus.openPatiently(this.busOptions, { name, persistent: true }, this.opening.signal, (error) => {
      if (!this.waitingFor) this.log.warn({ err: error.message }, "waiting for Redis");
      this.waitingFor = error.summary;
      this.showStatus();
    });
    this.waitingFor = undefined;
    this.log.info({ cluster: bus.keys.cluster }, "connected to Redis");
    return bus;
  }

  private async run(): Promise<void> {
    const bus = (this.bus = await this.openBus());
    let host = this.createHost(bus, this.session);
    // An automatic role is decided once Redis answers (commands wait for it): central if this
    // session can take the central id, else a satellite that names the central.
    if (this.session.autoRole && !(await host.acquire())) {
      this.central = host.consumer.holder;
      this.session = satelliteOf(this.session);
      host = this.createHost(bus, this.session);
      this.notify(`gateway: running as satellite ${this.session.sessionId}: the central is ${describeHolder(this.central!)}`, "info");
    }
    if (!this.decided) {
      this.decided = true;
      process.env.GATEWAY_SESSION_ID = this.session.sessionId;
      this.log.info({ role: this.session.role, session: this.session.sessionId }, "role decided");
    }
    if (this.stopped) return void (await host.stop());
    this.host = host;
    if (this.session.role === "satellite") {
      await this.refreshCentral();
      this.centralTimer = setInterval(() => void this.refreshCentral(), presenceIntervalOf(this.bus.options));
      this.centralTimer.unref();
    }
    this.showStatus();
    await host.start();
  }

  /** A satellite names its central in the status bar: look it up again now and then. */
  private async refreshCentral(): Promise<void> {
    try {
      this.central = await this.bus?.leaseHolder(DEFAULT_CENTRAL_SESSION);
      this.showStatus();
    } catch (error) {
      this.log.warn({ err: (error as Error).message }, "could not look up the central session");
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.opening.abort();
    if (this.centralTimer) clearInterval(this.centralTimer);
    const stopping = this.host?.stop();
    this.injector.cancelAll();
    // Never hold pi's shutdown hostage to an unreachable Redis.
    if (stopping) await Promise.race([stopping, sleep(1_500, undefined, { ref: false })]);
    this.bus?.disconnect();
    this.ctx = undefined;
  }

  onAgentEnd(messages: readonly unknown[] = []): void {
    this.injector.check();
    this.host?.requestDrain();
    void this.journalReply(messages);
  }

  /**
   * The agent answered a gateway message: a `replied` journal entry (`pi-gateway tail`) with the
   * batch's types and the reply's first line, so an event's outcome is visible outside pi too
   * (the host leaves HEARTBEAT_OK out, as the daemon does).
   */
  private async journalReply(messages: readonly unknown[]): Promise<void> {
    const list = messages as Array<{ role?: string; customType?: string; details?: unknown; content?: unknown }>;
    const batches = list
      .filter((m) => m.role === "custom")
      .map((m) => gatewayDetails({ type: "custom_message", customType: m.customType, details: m.details }));
    const details = batches.filter((d) => d !== undefined).at(-1);
    if (!details || !this.host) return;
    const text =
      list
        .filter((m) => m.role === "assistant")
        .map((m) => textOf(m.content))
        .filter((t) => t.trim())
        .at(-1) ?? "";
    const channel = details.kind === "alarm" ? "watchdog" : "extension";
    await this.host.journalReply({ id: details.batch, channel, types: details.types, sources: details.sources, text });
  }

  /** A message from the host becomes a gateway custom message; it resolves once pi recorded it. */
  private deliver(message: HostMessage): Promise<void> {
    return this.injector.deliver(message.text, detailsFor(message, ""));
  }

  private ownershipChanged(change: OwnershipChange): void {
    const sid = this.session.sessionId;
    if (change.kind === "held") {
      const who = describeHolder(change.holder);
      this.notify(
        `gateway: session id "${sid}" is held by ${who}: this session drains no events while that one runs (it takes over when it stops). Stop it, or set another GATEWAY_ID.`,
        "warning",
      );
    } else if (change.kind === "lost") {
      this.notify(
        `gateway: session id "${sid}" was taken over by ${describeHolder(change.holder)}: this session stopped draining events (it takes over again when that one stops).`,
        "error",
      );
    } else if (change.kind === "acquired" && change.waited) {
      this.notify(`gateway: took over session id "${sid}" (its holder is gone); draining events now`, "info");
    }
  }

  /** Multi-line report for the /gateway command. */
  describe(): Promise<string> {
    const holding = this.injector.holding;
    const waiting = `${holding} events${holding && !this.ctx?.isIdle() ? " (sent when the running turn ends)" : ""}`;
    return gatewayReport(this.snapshot(), { bus: this.bus, url: this.busOptions.redisUrl }, waiting);
  }

  /** Waiting for Redis to answer before the bus exists (the gateway tools say so rather than "not running"). */
  get connecting(): boolean {
    return !this.bus && !this.stopped && !this.lastError;
  }

  private snapshot(): StatusSnapshot {
    const { session, decided, host, central, waitingFor } = this;
    return { session, decided, host, central, waitingFor, lastError: host?.lastError ?? this.lastError };
  }

  private showStatus(): void {
    try {
      this.ctx?.ui.setStatus(STATUS_KEY, statusText(this.snapshot()));
    } catch {
      // ctx went stale (session replaced); the next session_start brings a fresh one.
    }
  }

  private notify(message: string, level: NoticeLevel): void {
    try {
      this.ctx?.ui.notify(message, level);
    } catch {
      // stale ctx, see showStatus
    }
  }
}
