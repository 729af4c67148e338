/**
 * What the extension runs while a pi session is up: the bus consumer feeding the session, the
 * presence of the session, the central session's heartbeat watchdog and the status line.
 */
import type { ExtensionAPI, ExtensionContext } from "@mariozechner/pi-coding-agent";
import { formatEventPrompt } from "../agent/event-prompt.js";
import { heartbeatInstruction, isHeartbeatAck } from "../agent/heartbeat.js";
import { textOf } from "../agent/message-text.js";
import { HeartbeatWatchdog, missedHeartbeatMessage } from "../agent/watchdog.js";
import { GatewayBus } from "../bus/bus.js";
import { createClient, redactUrl } from "../bus/connection.js";
import { EventConsumer, type ConnectionState, type DeliveryBatch } from "../bus/consumer.js";
import type { BusOptions } from "../config/bus-options.js";
import { formatDuration } from "../config/duration.js";
import { watchdogThresholdFromConfig, type SessionOptions } from "../config/session-options.js";
import { createEvent, HEARTBEAT_EVENT_TYPE } from "../protocol/event.js";
import type { Logger } from "../util/logger.js";
import { gatewayDetails, PiInjector } from "./injector.js";

const STATUS_KEY = "gateway";

export class GatewayRuntime {
  readonly bus: GatewayBus;
  readonly consumer: EventConsumer;
  readonly injector: PiInjector;
  readonly watchdog: HeartbeatWatchdog | undefined;
  private ctx: ExtensionContext | undefined;
  private lastError: string | undefined;
  /** Heartbeats acknowledged without a turn because the agent was busy with real work. */
  heartbeatsSkipped = 0;

  constructor(
    private readonly pi: ExtensionAPI,
    ctx: ExtensionContext,
    readonly session: SessionOptions,
    busOptions: BusOptions,
    private readonly log: Logger,
  ) {
    this.ctx = ctx;
    const client = createClient(busOptions.redisUrl, {
      name: `pi-gateway:${session.sessionId}`,
      persistent: true,
      connectTimeoutMs: busOptions.connectTimeoutMs,
      caFile: busOptions.redisCaFile,
    });
    this.bus = new GatewayBus(client, busOptions);
    this.injector = new PiInjector(pi, () => this.ctx, session.deliverAs, session.acceptTimeoutMs);
    this.consumer = new EventConsumer({
      bus: this.bus,
      sessionId: session.sessionId,
      role: session.role,
      durable: session.durable,
      // The central session also serves the original single-session queue (`agent:events:main`).
      extraQueues: session.role === "central" ? [busOptions.legacySession] : [],
      deliver: (batch) => this.deliver(batch),
      alreadyDelivered: (ids) => this.injector.alreadyDelivered(ids),
      kind: "pi",
      logger: log,
    });
    this.consumer.on("state", (state) => this.showState(state));
    this.consumer.on("predecessorCrashed", (previous) => {
      // Tripwire: the session was restarted after dying; tell the agent (and, through the bus, any
      // channel that follows the journal) instead of carrying on as if nothing happened.
      const where = previous.pid ? ` (pid ${previous.pid} on ${previous.host || "?"})` : "";
      const event = createEvent("gateway.session.restarted", "pi-gateway", { session: session.sessionId, previous: previous.instance, pid: previous.pid, host: previous.host }, { target: session.sessionId });
      log.warn({ previous }, "previous instance of this session died without shutting down");
      this.notify(`gateway: the previous ${session.sessionId} session${where} died without shutting down; restarted`, "warning");
      this.bus.pushWithRetry(event).catch((error: Error) => log.warn({ err: error.message }, "could not push the restart notice"));
    });
    this.consumer.on("drainFailed", (error) => {
      this.lastError = error.message;
      log.warn({ err: error.message }, "drain failed; will retry");
    });
    if (session.role === "central") {
      this.watchdog = new HeartbeatWatchdog({
        thresholdMs: session.watchdogThresholdMs,
        checkEveryMs: session.watchdogCheckMs,
        onAlarm: (elapsed) => this.alarm(elapsed),
        refresh: async () => {
          const [config, last] = await Promise.all([this.bus.client.hgetall(this.bus.keys.config), this.bus.lastHeartbeat()]);
          // Published for `pi-gateway status` and `doctor`: the watchdog is only visible from inside.
          const wd = this.watchdog;
          if (wd) await this.bus.client.hset(this.bus.keys.sessionInfo(session.sessionId), "watchdog", wd.state, "watchdogThreshold", wd.thresholdMs);
          return { thresholdMs: watchdogThresholdFromConfig(config), lastHeartbeat: last };
        },
      });
    }
  }

  /** Starts in the background: pi must not wait for (or fail because of) Redis. */
  start(): void {
    // Children of this session (background jobs started from its shell) report back to it.
    process.env.GATEWAY_SESSION_ID = this.session.sessionId;
    this.showState("connecting");
    // What this session already holds, from its own records: a batch handed out again after a
    // crash is acknowledged, not shown twice.
    this.injector.indexSession();
    this.bus.client.connect().catch(() => undefined);
    this.watchdog?.start();
    void this.consumer.start().catch((error: Error) => {
      this.lastError = error.message;
      this.log.error({ err: error.message }, "gateway consumer failed to start");
      this.notify(`gateway: ${error.message}`, "error");
    });
  }

  async stop(): Promise<void> {
    this.watchdog?.stop();
    this.injector.cancelAll();
    // Never hold pi's shutdown hostage to an unreachable Redis.
    await Promise.race([this.consumer.stop(), new Promise((r) => setTimeout(r, 1_500).unref())]);
    this.bus.client.disconnect();
    this.ctx = undefined;
  }

  onAgentEnd(messages: readonly unknown[] = []): void {
    this.injector.check();
    this.consumer.requestDrain();
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
    const { session } = this;
    const backlog = await Promise.race([
      Promise.all(this.consumer.queues.map(async (q) => `${q}=${await this.bus.pending(q)}`)).then((parts) => parts.join(" ")),
      new Promise<string>((r) => setTimeout(() => r("unknown (Redis not answering)"), 1_000).unref()),
    ]).catch(() => "unknown");
    const wd = this.watchdog;
    // The bus's record, as `pi-gateway status` shows it: the watchdog's copy lags behind beats seen by other hosts.
    const lastBeat = await Promise.race([this.bus.lastHeartbeat(), new Promise<"unknown">((r) => setTimeout(() => r("unknown"), 1_000).unref())]).catch(() => "unknown" as const);
    const beatText = lastBeat === "unknown" ? "unknown (Redis not answering)" : lastBeat === null ? "never" : new Date(lastBeat).toISOString();
    const lines = [
      `role: ${session.role}`,
      `session id: ${session.sessionId}${session.durable ? " (durable)" : ""}  (exported to child processes as GATEWAY_SESSION_ID)`,
      `redis: ${redactUrl(this.bus.options.redisUrl)} — ${this.consumer.state}`,
      `backlog: ${backlog}`,
      `waiting for pi to record: ${this.injector.holding} events${this.injector.holding && !this.ctx?.isIdle() ? " (sent when the running turn ends)" : ""}`,
      `delivered: ${this.consumer.stats.delivered} events in ${this.consumer.stats.batches} messages; duplicates skipped: ${this.consumer.stats.duplicates}; dead-lettered: ${this.consumer.stats.deadLettered}`,
      wd
        ? `last heartbeat: ${beatText}; watchdog: ${wd.state} (threshold ${formatDuration(wd.thresholdMs)}, alarms ${wd.alarms}); heartbeats skipped while busy: ${this.heartbeatsSkipped}`
        : `last heartbeat: ${beatText}; watchdog: off (satellite sessions do not receive heartbeats)`,
    ];
    if (this.lastError) lines.push(`last error: ${this.lastError}`);
    return lines.join("\n");
  }

  private showState(state: ConnectionState): void {
    const labels: Record<ConnectionState, string> = {
      connecting: "⏳ gateway connecting",
      connected: `🔗 gateway ${this.session.role === "central" ? "central" : this.session.sessionId}`,
      reconnecting: "⏳ gateway reconnecting",
      disconnected: "⚠️ gateway disconnected",
    };
    try {
      this.ctx?.ui.setStatus(STATUS_KEY, labels[state]);
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
