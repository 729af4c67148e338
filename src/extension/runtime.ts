/**
 * What the extension runs while a pi session is up: the bus consumer feeding the session, the
 * presence of the session, the central session's heartbeat watchdog and the status line.
 */
import type { ExtensionAPI, ExtensionContext } from "@mariozechner/pi-coding-agent";
import { formatEventPrompt } from "../agent/event-prompt.js";
import { heartbeatInstruction, isHeartbeatAck } from "../agent/heartbeat.js";
import { textOf } from "../agent/message-text.js";
import { HeartbeatWatchdog, missedHeartbeatMessage } from "../agent/watchdog.js";
import { GatewayBus, type LeaseHolder, type PreviousRegistration } from "../bus/bus.js";
import { redactUrl } from "../bus/connection.js";
import { EventConsumer, extraQueuesFor, type DeliveryBatch } from "../bus/consumer.js";
import { describeHolder } from "../bus/lease.js";
import type { BusOptions } from "../config/bus-options.js";
import { formatDuration } from "../config/duration.js";
import { satelliteOf, watchdogThresholdFromConfig, type SessionOptions } from "../config/session-options.js";
import { DEFAULT_CENTRAL_SESSION } from "../protocol/keys.js";
import { createEvent, HEARTBEAT_EVENT_TYPE } from "../protocol/event.js";
import type { Logger } from "../util/logger.js";
import { gatewayDetails, PiInjector } from "./injector.js";

const STATUS_KEY = "gateway";

export class GatewayRuntime {
  readonly bus: GatewayBus;
  readonly injector: PiInjector;
  /** Created once the role is known (at once, or once Redis answers for an automatic role). */
  consumer: EventConsumer | undefined;
  watchdog: HeartbeatWatchdog | undefined;
  /** The session as it runs: for an automatic role, what was decided once Redis answered. */
  session: SessionOptions;
  private decided: boolean;
  /** Who holds the central id, as seen by a satellite (shown in the status bar and /gateway). */
  private central: LeaseHolder | undefined;
  private centralTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private ctx: ExtensionContext | undefined;
  private lastError: string | undefined;
  /** Heartbeats acknowledged without a turn because the agent was busy with real work. */
  heartbeatsSkipped = 0;

  constructor(
    private readonly pi: ExtensionAPI,
    ctx: ExtensionContext,
    session: SessionOptions,
    busOptions: BusOptions,
    private readonly log: Logger,
  ) {
    this.ctx = ctx;
    this.session = session;
    this.decided = !session.autoRole;
    this.bus = GatewayBus.create(busOptions, { name: `pi-gateway:${session.autoRole ? "auto" : session.sessionId}`, persistent: true });
    this.injector = new PiInjector(pi, () => this.ctx, session.deliverAs, session.acceptTimeoutMs);
  }

  private createConsumer(session: SessionOptions): EventConsumer {
    const consumer = new EventConsumer({
      bus: this.bus,
      sessionId: session.sessionId,
      role: session.role,
      durable: session.durable,
      extraQueues: extraQueuesFor(session.sessionId, session.role, this.bus.options.legacySession),
      deliver: (batch) => this.deliver(batch),
      alreadyDelivered: (ids) => this.injector.alreadyDelivered(ids),
      kind: "pi",
      logger: this.log,
    });
    consumer.on("state", () => this.showStatus());
    consumer.on("predecessorCrashed", (previous) => this.restarted(previous));
    consumer.on("drainFailed", (error) => {
      this.lastError = error.message;
      this.log.warn({ err: error.message }, "drain failed; will retry");
    });
    return consumer;
  }

  /** Held, lost, taken: the user always learns who drains the id, and the watchdog follows. */
  private watchOwnership(consumer: EventConsumer, sid: string): void {
    consumer.on("held", (holder) => {
      this.log.warn({ session: sid, holder }, "session id held by another live instance; not draining");
      this.watchdog?.stop();
      this.notify(
        `gateway: session id "${sid}" is held by ${describeHolder(holder)}: this session drains no events while that one runs (it takes over when it stops). Stop it, or set another GATEWAY_ID.`,
        "warning",
      );
      this.showStatus();
    });
    consumer.on("lost", (holder) => {
      this.log.error({ session: sid, holder }, "session id taken over by another instance; stopped draining");
      this.watchdog?.stop();
      this.notify(`gateway: session id "${sid}" was taken over by ${describeHolder(holder)}: this session stopped draining events (it takes over again when that one stops).`, "error");
      this.showStatus();
    });
    consumer.on("acquired", ({ waited }) => {
      this.watchdog?.start();
      if (waited) this.notify(`gateway: took over session id "${sid}" (its holder is gone); draining events now`, "info");
      this.showStatus();
    });
  }

  /** Tripwire: the session was restarted after dying; tell the agent (and, through the bus, any channel that follows the journal). */
  private restarted(previous: PreviousRegistration): void {
    const sid = this.session.sessionId;
    const where = previous.pid ? ` (pid ${previous.pid} on ${previous.host || "?"})` : "";
    const event = createEvent("gateway.session.restarted", "pi-gateway", { session: sid, previous: previous.instance, pid: previous.pid, host: previous.host }, { target: sid });
    this.log.warn({ previous }, "previous instance of this session died without shutting down");
    this.notify(`gateway: the previous ${sid} session${where} died without shutting down; restarted`, "warning");
    this.bus.pushWithRetry(event).catch((error: Error) => this.log.warn({ err: error.message }, "could not push the restart notice"));
  }

  private createWatchdog(): HeartbeatWatchdog {
    const sid = this.session.sessionId;
    const watchdog = new HeartbeatWatchdog({
      thresholdMs: this.session.watchdogThresholdMs,
      checkEveryMs: this.session.watchdogCheckMs,
      onAlarm: (elapsed) => this.alarm(elapsed),
      refresh: async () => {
        const [config, last] = await Promise.all([this.bus.sharedConfig(), this.bus.lastHeartbeat()]);
        // Published for `pi-gateway status` and `doctor`: the watchdog is only visible from inside.
        if (this.consumer?.owner) await this.bus.recordWatchdog(sid, watchdog.state, watchdog.thresholdMs);
        return { thresholdMs: watchdogThresholdFromConfig(config), lastHeartbeat: last };
      },
    });
    return watchdog;
  }

  /** Starts in the background: pi must not wait for (or fail because of) Redis. */
  start(): void {
    // Children of this session (background jobs started from its shell) report back to it.
    if (this.decided) process.env.GATEWAY_SESSION_ID = this.session.sessionId;
    this.showStatus();
    // What this session already holds, from its own records: a batch handed out again after a
    // crash is acknowledged, not shown twice.
    this.injector.indexSession();
    this.bus.connect().catch(() => undefined);
    void this.run().catch((error: Error) => {
      this.lastError = error.message;
      this.log.error({ err: error.message }, "gateway consumer failed to start");
      this.notify(`gateway: ${error.message}`, "error");
    });
  }

  private async run(): Promise<void> {
    let consumer = this.createConsumer(this.session);
    // An automatic role is decided once Redis answers (commands wait for it): central if this
    // session can take the central id, else a satellite that names the central.
    if (this.session.autoRole && !(await consumer.acquire())) {
      this.central = consumer.holder;
      this.session = satelliteOf(this.session);
      consumer = this.createConsumer(this.session);
      this.notify(`gateway: running as satellite ${this.session.sessionId}: the central is ${describeHolder(this.central!)}`, "info");
    }
    this.watchOwnership(consumer, this.session.sessionId);
    if (!this.decided) {
      this.decided = true;
      process.env.GATEWAY_SESSION_ID = this.session.sessionId;
      this.log.info({ role: this.session.role, session: this.session.sessionId }, "role decided");
    }
    if (this.stopped) return void (await consumer.stop());
    this.consumer = consumer;
    if (this.session.role === "central") {
      this.watchdog = this.createWatchdog();
      if (consumer.owner) this.watchdog.start();
    } else {
      await this.refreshCentral();
      this.centralTimer = setInterval(() => void this.refreshCentral(), Math.max(this.bus.options.presenceTtlMs / 3, 250));
      this.centralTimer.unref();
    }
    this.showStatus();
    await consumer.start();
  }

  /** A satellite names its central in the status bar: look it up again now and then. */
  private async refreshCentral(): Promise<void> {
    try {
      this.central = await this.bus.leaseHolder(DEFAULT_CENTRAL_SESSION);
      this.showStatus();
    } catch (error) {
      this.log.warn({ err: (error as Error).message }, "could not look up the central session");
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watchdog?.stop();
    if (this.centralTimer) clearInterval(this.centralTimer);
    this.injector.cancelAll();
    // Never hold pi's shutdown hostage to an unreachable Redis.
    if (this.consumer) await Promise.race([this.consumer.stop(), new Promise((r) => setTimeout(r, 1_500).unref())]);
    this.bus.disconnect();
    this.ctx = undefined;
  }

  onAgentEnd(messages: readonly unknown[] = []): void {
    this.injector.check();
    this.consumer?.requestDrain();
    void this.journalReply(messages);
  }

  /**
   * The agent answered a gateway message: a `replied` journal entry (`pi-gateway tail`) with the
   * batch's types and the reply's first line, so an event's outcome is visible outside pi too.
   * HEARTBEAT_OK is not journaled, as it is forwarded nowhere.
   */
  private async journalReply(messages: readonly unknown[]): Promise<void> {
    const list = messages as Array<{ role?: string; customType?: string; details?: unknown; content?: unknown }>;
    const batches = list.filter((m) => m.role === "custom").map((m) => gatewayDetails({ type: "custom_message", customType: m.customType, details: m.details }));
    const details = batches.filter((d) => d !== undefined).at(-1);
    if (!details) return;
    const reply = list.filter((m) => m.role === "assistant").map((m) => textOf(m.content)).filter((t) => t.trim()).at(-1) ?? "";
    if (isHeartbeatAck(reply)) return;
    const channel = details.kind === "alarm" ? "watchdog" : "extension";
    await this.bus
      .journalReplied({ id: details.batch, channel, types: details.types, sources: details.sources, session: this.session.sessionId, text: reply })
      .catch((error: Error) => this.log.warn({ err: error.message }, "could not journal the reply"));
  }

  private async deliver({ events }: DeliveryBatch): Promise<void> {
    const isBeat = (e: { type: string }) => e.type === HEARTBEAT_EVENT_TYPE;
    const hasBeat = events.some(isBeat);
    if (hasBeat) {
      this.watchdog?.beat();
      await this.bus.recordHeartbeat();
    }
    // A heartbeat never competes with real work: while the agent is busy it only feeds the
    // watchdog (the lesson of heartbeat turns that blocked chat for 30-90 s at a time).
    const busy = !(this.ctx?.isIdle() ?? true);
    const toShow = busy ? events.filter((e) => !isBeat(e)) : events;
    if (toShow.length < events.length) this.heartbeatsSkipped += events.length - toShow.length;
    if (!toShow.length) return;
    const closing = hasBeat && !busy ? heartbeatInstruction(this.session.heartbeatFile) : undefined;
    const labels = { types: toShow.map((e) => e.type), sources: toShow.map((e) => e.source) };
    await this.injector.deliver(formatEventPrompt(toShow, { closing }), toShow.map((e) => e.id), "events", labels);
  }

  private alarm(elapsedMs: number): void {
    const text = missedHeartbeatMessage(elapsedMs, this.watchdog?.thresholdMs ?? 0);
    this.log.warn({ elapsedMs }, "missed heartbeat");
    this.notify(`gateway: no heartbeat for ${formatDuration(elapsedMs)}`, "warning");
    this.injector.deliver(text, [], "alarm").catch((error: Error) => this.log.warn({ err: error.message }, "could not inject watchdog alarm"));
  }

  /** Multi-line report for the /gateway command. */
  async describe(): Promise<string> {
    const { session, consumer } = this;
    const queues = consumer?.queues ?? [];
    const backlog = await Promise.race([
      Promise.all(queues.map(async (q) => `${q}=${await this.bus.pending(q)}`)).then((parts) => parts.join(" ") || "unknown (role not decided yet)"),
      new Promise<string>((r) => setTimeout(() => r("unknown (Redis not answering)"), 1_000).unref()),
    ]).catch(() => "unknown");
    const wd = this.watchdog;
    // The bus's record, as `pi-gateway status` shows it: the watchdog's copy lags behind beats seen by other hosts.
    const lastBeat = await Promise.race([this.bus.lastHeartbeat(), new Promise<"unknown">((r) => setTimeout(() => r("unknown"), 1_000).unref())]).catch(() => "unknown" as const);
    const beatText = lastBeat === "unknown" ? "unknown (Redis not answering)" : lastBeat === null ? "never" : new Date(lastBeat).toISOString();
    const stats = consumer?.stats ?? { delivered: 0, batches: 0, duplicates: 0, deadLettered: 0 };
    const lines = [
      `role: ${this.roleLine()}`,
      `session id: ${session.sessionId}${session.durable ? " (durable)" : ""}  (exported to child processes as GATEWAY_SESSION_ID)`,
      `owner: ${this.ownerLine()}`,
      `redis: ${redactUrl(this.bus.options.redisUrl)} — ${consumer?.state ?? this.bus.connectionState}`,
      `backlog: ${backlog}`,
      `waiting for pi to record: ${this.injector.holding} events${this.injector.holding && !this.ctx?.isIdle() ? " (sent when the running turn ends)" : ""}`,
      `delivered: ${stats.delivered} events in ${stats.batches} messages; duplicates skipped: ${stats.duplicates}; dead-lettered: ${stats.deadLettered}`,
      wd
        ? `last heartbeat: ${beatText}; watchdog: ${wd.state} (threshold ${formatDuration(wd.thresholdMs)}, alarms ${wd.alarms}); heartbeats skipped while busy: ${this.heartbeatsSkipped}`
        : `last heartbeat: ${beatText}; watchdog: off (satellite sessions do not receive heartbeats)`,
    ];
    if (this.lastError) lines.push(`last error: ${this.lastError}`);
    return lines.join("\n");
  }

  private roleLine(): string {
    const { session } = this;
    if (!this.decided) return "not decided yet: waiting for Redis (central if no live session holds the central id, else satellite)";
    const how = session.autoRole ? " (automatic: no GATEWAY_ROLE)" : "";
    if (session.role === "central") return `central${how}`;
    return `satellite${how} · ${this.central ? `central is ${describeHolder(this.central)}` : "no live central"}`;
  }

  private ownerLine(): string {
    const consumer = this.consumer;
    if (!consumer) return "not yet";
    if (consumer.owner) return "this session (it drains the session's queues)";
    if (consumer.holder) return `⛔ held by ${describeHolder(consumer.holder)}: this session drains nothing until that one stops`;
    return "not yet (waiting for Redis)";
  }

  /** The status bar always names the role, or says why the session does not drain. */
  private statusText(): string {
    const state = this.consumer?.state ?? "connecting";
    if (state === "connecting") return this.decided ? "⏳ gateway connecting" : "⏳ gateway connecting (role decided once Redis answers)";
    if (state === "reconnecting") return "⏳ gateway reconnecting";
    if (state === "disconnected") return "⚠️ gateway disconnected";
    const consumer = this.consumer;
    if (consumer && !consumer.owner && consumer.holder) return `⛔ ${this.session.sessionId} held by ${describeHolder(consumer.holder)}`;
    if (this.session.role === "central") return "🔗 central";
    return `🔗 satellite · ${this.central ? `central is ${describeHolder(this.central)}` : "no live central"}`;
  }

  private showStatus(): void {
    try {
      this.ctx?.ui.setStatus(STATUS_KEY, this.statusText());
    } catch {
      // ctx went stale (session replaced); the next session_start brings a fresh one.
    }
  }

  private notify(message: string, level: "info" | "warning" | "error"): void {
    try {
      this.ctx?.ui.notify(message, level);
    } catch {
      // stale ctx, see showState
    }
  }
}
