/**
 * The gateway daemon (tier 4): pi embedded as a library, owning every input and output.
 *
 *   inputs ──submit──▶ CommandQueue (Redis streams, durable, deduplicated) ──take──▶ AgentRunner
 *   (channels, Redis events,                                                          │ reply events
 *    heartbeat, watchdog)                                                             ▼
 *                                                     OutboundRouter ──▶ the channel that asked
 *
 * One turn at a time; a stuck turn is aborted after `turnTimeoutMs`; on shutdown the turn in
 * progress may finish within `shutdownGraceMs`, otherwise it is aborted and stays queued, so the
 * next start replays it. A turn that fails is never dropped: a transient failure (provider
 * unreachable, 5xx, 429) is retried with backoff while other commands run, anything else (or the
 * last retry) is dead-lettered with the error and the asker is told.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { ShutdownBudget } from "./shutdown.js";
import { GatewayBus, type LeaseHolder } from "../bus/bus.js";
import { GatewayError } from "../bus/errors.js";
import { describeHolder } from "../bus/lease.js";
import type { BusOptions } from "../config/bus-options.js";
import { formatDuration } from "../config/duration.js";
import { GatewayHost, type HostMessage, type OwnershipChange } from "../host/gateway-host.js";
import { detailsFor, type GatewayMessageDetails } from "../host/gateway-message.js";
import { DEFAULT_CENTRAL_SESSION } from "../protocol/keys.js";
import type { Logger } from "../util/logger.js";
import { backoffDelay } from "../util/backoff.js";
import { capText } from "../util/text.js";
import { gatewayTools } from "../host/tools/index.js";
import { AgentRunner, NoModelError, type TurnResult } from "./agent-runner.js";
import type { ContextSettings } from "./context-budget.js";
import { CommandQueue, type QueuedCommand } from "./command-queue.js";
import { originOf, type HistoryItem } from "./history.js";
import { OutboundRouter, type ReplyRoute } from "./router.js";
import { startNotificationRelay } from "./notification-relay.js";
import type { OwnerLoop } from "../host/owner-loop.js";
import { isTransientFailure, oneLine, promptText, RETRY_BACKOFF_CAP_MS } from "./turn-recovery.js";
import type { Channel, CommandSink, DaemonControl, DaemonObserver, DaemonStatus, InboundMessage, QueueMode, ReplyAddress, SubmitResult } from "./types.js";

export interface DaemonOptions {
  bus: BusOptions;
  cwd: string;
  agentDir?: string;
  sessionId?: string;
  /** Take the session id even from a live holder (`pi-gateway daemon --takeover`). */
  takeover?: boolean;
  /** Another instance took the session id: the daemon stopped draining and should exit. */
  onSessionLost?: (message: string) => void;
  channels: Channel[];
  /** Where replies to events, heartbeats and alarms go (e.g. the owner's Telegram chat). */
  owner?: ReplyAddress;
  turnTimeoutMs: number;
  /** How often a turn that failed transiently is tried again before it is dead-lettered. */
  turnRetries: number;
  /** Wait before the first retry; doubles with each further one (capped at 5m). */
  turnRetryBackoffMs: number;
  shutdownGraceMs: number;
  agingMs: number;
  /** Most events (and prompt bytes) the event commands batched into one turn may carry. */
  turnMaxEvents?: number;
  turnMaxBytes?: number;
  /** Events a turn shows one by one, the rest summed up in a digest (event-prompt.ts). */
  turnShownEvents?: number;
  /** Human prompts one client / one channel may have waiting (GATEWAY_PROMPTS_PER_CLIENT, _PER_CHANNEL). */
  promptsPerClient?: number;
  promptsPerChannel?: number;
  collectWindowMs: number;
  /** Context window override and compaction threshold for the embedded pi (context-budget.ts). */
  context?: ContextSettings;
  heartbeatFile: string;
  /** Queue mode per input channel when the message does not say (default followUp). */
  queueModes?: Record<string, QueueMode>;
  watchdogThresholdMs: number;
  watchdogCheckMs: number;
  logger: Logger;
  /** Told about deliveries, dead letters and turn durations (the /metrics counters). */
  observer?: DaemonObserver;
}

export class GatewayDaemon implements CommandSink, DaemonControl {
  bus!: GatewayBus;
  private queue!: CommandQueue;
  /** The session id's lease, the event drain, heartbeats and the watchdog (shared with the extension). */
  private host!: GatewayHost;
  /** Delivers owner notifications while this daemon owns the central id. */
  private notificationRelay: OwnerLoop | undefined;
  readonly agent: AgentRunner;
  private readonly router: OutboundRouter;
  private state: DaemonStatus["state"] = "starting";
  private current: { command: QueuedCommand; startedAt: number } | undefined;
  private processed = 0;
  private wake: (() => void) | undefined;
  /** Set by every submit: a command that arrives while the loop is busy reading the queue is not missed. */
  private wakeRequested = false;
  private loop: Promise<void> | undefined;
  private readonly log: Logger;

  constructor(private readonly options: DaemonOptions) {
    this.log = options.logger;
    const tools = gatewayTools({ bus: () => this.bus, sessionId: () => this.host?.session.sessionId, logger: () => this.log });
    this.agent = new AgentRunner({ cwd: options.cwd, agentDir: options.agentDir, context: options.context, logger: options.logger, tools });
    this.router = new OutboundRouter(options.owner, options.logger);
    for (const channel of options.channels) this.router.register(channel);
  }

  async start(): Promise<void> {
    const { options } = this;
    this.bus = await GatewayBus.connect({ ...options.bus, persistent: true, name: "pi-gateway:daemon" });
    const sessionId = options.sessionId ?? DEFAULT_CENTRAL_SESSION;
    this.queue = new CommandQueue(this.bus.commandQueue(sessionId), {
      agingMs: options.agingMs,
      collectWindowMs: options.collectWindowMs,
      turnMaxEvents: options.turnMaxEvents,
      turnMaxBytes: options.turnMaxBytes,
      turnShownEvents: options.turnShownEvents,
      promptsPerClient: options.promptsPerClient,
      promptsPerChannel: options.promptsPerChannel,
    });
    await this.claimSession(sessionId);
    const replays = await this.queue.init();
    if (replays) this.log.warn({ replays }, "replaying commands that were in progress (or waiting for a retry) when the daemon stopped");
    await this.agent.start();
    if (this.agent.contextWindow) this.queue.fitTurnsToWindow(this.agent.contextWindow);

    for (const channel of options.channels) await channel.start({ commands: this, control: this, logger: this.log });

    await this.host.start();
    this.notificationRelay = startNotificationRelay(this.bus, this.router, () => this.host.ownsCentral, this.log);
    this.state = "idle";
    const problem = this.agent.modelProblem();
    if (problem) this.log.warn({ problem }, "no model available");
    this.loop = this.processLoop();
    this.log.info({ session: this.agent.sessionFile, channels: options.channels.map((c) => c.name) }, "daemon started");
  }

  /**
   * Takes the session id's lease before anything touches its queues or the agent: one live owner
   * per id, so a second daemon (or a central pi already running) never splits the event stream.
   */
  private async claimSession(sessionId: string): Promise<void> {
    const { options } = this;
    const { heartbeatFile, watchdogThresholdMs, watchdogCheckMs } = options;
    const session = { sessionId, role: "central" as const, durable: true, heartbeatFile, watchdogThresholdMs, watchdogCheckMs };
    this.host = new GatewayHost(
      { bus: this.bus, session, kind: "daemon", takeover: options.takeover, logger: this.log, shownMax: options.turnShownEvents },
      {
        deliver: (message) => this.acceptMessage(message),
        busy: async () => {
          const depth = await this.queue.depth();
          return this.current !== undefined || depth.human + depth.event > 0;
        },
        alreadyDelivered: async (ids) => {
          const seen = await this.queue.seen(ids.map((id) => `event:${id}`));
          return new Set(ids.filter((id) => seen.has(`event:${id}`)));
        },
        ownership: (change) => this.ownershipChanged(change),
      },
    );
    if (!(await this.host.acquire())) {
      await this.bus.close();
      throw new GatewayError(sessionHeldMessage(sessionId, this.host.consumer.holder), "SESSION_HELD");
    }
  }

  /** Another instance took the id (`daemon --takeover`): never keep running next to it. */
  private ownershipChanged(change: OwnershipChange): void {
    if (change.kind !== "lost") return;
    const message = `session id "${this.host.session.sessionId}" was taken over by ${describeHolder(change.holder)}; this daemon stopped draining events and shuts down`;
    this.options.onSessionLost?.(message);
  }

  /**
   * Stops taking input (submit refuses), lets the current turn finish within the grace period or
   * checkpoints it (aborted, left queued for the next start), then closes channels and clients.
   * Channels close last so the finishing turn's reply still reaches whoever asked. The whole stop
   * ends within GATEWAY_SHUTDOWN_GRACE whatever Redis does (shutdown.ts); what it had to leave
   * behind is returned (and replayed by the next start).
   */
  async stop(): Promise<string[]> {
    if (this.state === "stopping") return [];
    this.state = "stopping";
    const grace = this.options.shutdownGraceMs;
    const budget = new ShutdownBudget(grace);
    // Kept for the steps after the turn: abort, checkpoint, channels.
    const reserve = Math.min(1_000, grace / 4);
    const interrupted = this.current?.command.message.id;
    // Known before any step: with Redis gone, what the steps could not write waits for the next start
    // even when each step gave up at once (a closed client fails fast) rather than timing out.
    const redisDown = this.bus !== undefined && !this.bus.isReady;
    await budget.step("notification delivery", this.notificationRelay?.stop(), reserve);
    await budget.step("the session's lease and event drain", this.host?.stop(), reserve);
    this.requestWake();
    if (this.current && !(await budget.step("the running turn", this.loop, reserve))) {
      await budget.step("aborting the turn", this.agent.abort());
    }
    await budget.step("the turn's checkpoint in Redis", this.loop);
    await Promise.all(this.options.channels.map((channel) => budget.step(`the ${channel.name} channel`, channel.stop())));
    await this.agent.stop();
    if (budget.leftMs > 0 && (await budget.step("closing the Redis connection", this.bus?.close()))) return this.leftBehind(budget, interrupted, redisDown);
    this.bus?.disconnect();
    return this.leftBehind(budget, interrupted, redisDown);
  }

  /** What a stop left for the next start, in words (empty when it finished everything). */
  private leftBehind(budget: ShutdownBudget, interrupted: string | undefined, redisDown: boolean): string[] {
    const notes = [
      ...(redisDown ? ["Redis was unreachable during the stop: the session's lease, acknowledgements and checkpoints could not be written"] : []),
      ...budget.abandoned.map((step) => `${step} did not finish within ${formatDuration(this.options.shutdownGraceMs)}`),
      ...budget.failed.map(({ step, error }) => `${step} failed: ${oneLine(error)}`),
    ];
    if (interrupted && budget.abandoned.includes("the running turn")) notes.push(`command ${interrupted} was interrupted: the next start replays it`);
    if (notes.length) this.log.warn({ leftBehind: notes }, "shutdown left work for the next start");
    return notes;
  }

  // ------------------------------------------------------------------ CommandSink

  async submit(input: InboundMessage): Promise<SubmitResult> {
    if (this.state === "stopping") throw new Error("the daemon is shutting down");
    const mode = input.mode ?? this.options.queueModes?.[input.channel];
    const message: InboundMessage = mode ? { ...input, mode } : input;
    const status = await this.queue.submit(message);
    if (status === "queued") {
      this.log.info({ id: message.id, channel: message.channel, priority: message.priority }, "command queued");
      // Steer mode: join the turn in progress when it is for the same conversation; its reply then
      // carries this message's answer too, so the queued copy is marked answered.
      const running = this.current?.command.message;
      if (message.mode === "steer" && running && sameAddress(running.replyTo, message.replyTo) && this.agent.busy) {
        await this.agent.steer(
          message.text,
          originOf(message),
          message.gateway && { ...message.gateway, batch: randomUUID(), requests: [message.id] },
          message.images,
        );
        await this.queue.markAnswered(message.id);
      }
      this.requestWake();
    }
    return { status, requestId: message.id };
  }

  // ------------------------------------------------------------------ DaemonControl

  async status(): Promise<DaemonStatus> {
    const load = await this.queue.load();
    return {
      state: this.state === "idle" && this.current ? "busy" : this.state,
      sessionFile: this.agent.sessionFile,
      queue: load.depth,
      load: {
        oldestEventAgeMs: load.oldestEventAgeMs,
        windowSeconds: load.windowSeconds,
        turns: load.turns,
        turnsPerSecond: load.turnsPerSecond,
        eventsPerTurn: load.eventsPerTurn,
      },
      current: this.current
        ? { requestId: this.current.command.message.id, channel: this.current.command.message.channel, startedAt: this.current.startedAt }
        : undefined,
      processed: this.processed,
      lastHeartbeat: await this.bus.lastHeartbeat(),
      watchdog: this.host.watchdog?.state,
      modelProblem: this.agent.modelProblem(),
    };
  }

  async abort(): Promise<void> {
    await this.agent.abort();
  }

  async newSession(): Promise<void> {
    await this.agent.newSession();
  }

  /** Can the agent take commands (for /readyz), and if not, why? */
  readiness(): { ready: boolean; reason?: string } {
    if (this.state !== "idle" && this.state !== "busy") return { ready: false, reason: `daemon ${this.state}` };
    if (!this.bus.isReady) return { ready: false, reason: `redis ${this.bus.connectionState}` };
    const problem = this.agent.modelProblem();
    return problem ? { ready: false, reason: problem } : { ready: true };
  }

  /** A page of the conversation (GET /api/history): `limit` items before the item `before`; undefined for an unknown `before`. */
  history(limit: number, before?: string): { items: HistoryItem[]; more: boolean } | undefined {
    return this.agent.history(limit, before);
  }

  // ------------------------------------------------------------------ internals

  /** A message from the host becomes one command, stored before the bus acknowledges its batch. */
  private async acceptMessage(message: HostMessage): Promise<void> {
    if (message.kind === "alarm") {
      const gateway = detailsFor(message, "");
      await this.submit({ id: `alarm:${Date.now()}`, channel: "watchdog", text: message.text, priority: "event", gateway }).catch((error: Error) =>
        this.log.warn({ err: error.message }, "could not queue the watchdog alarm"),
      );
      return;
    }
    this.options.observer?.eventsDelivered(message.ids.length);
    const seenIds = message.ids.map((id) => `event:${id}`);
    const first = message.shown[0]!.id;
    // The session holds the batch as a gateway message: its details name the events (the history's badges).
    const gateway = detailsFor(message, "", this.options.turnShownEvents);
    if (message.kind === "heartbeat") {
      await this.queue.submit({ id: `heartbeat:${first}`, channel: "heartbeat", text: message.text, priority: "heartbeat", gateway }, seenIds);
    } else {
      const { shown } = message;
      const meta = { types: shown.map((e) => e.type).join(","), sources: shown.map((e) => e.source).join(","), events: String(shown.length) };
      await this.queue.submit({ id: `events:${first}`, channel: "redis", text: message.text, priority: "event", meta, gateway }, seenIds);
    }
    this.requestWake();
  }

  private requestWake(): void {
    this.wakeRequested = true;
    this.wake?.();
  }

  private async processLoop(): Promise<void> {
    while (this.state !== "stopping") {
      this.wakeRequested = false;
      let command: QueuedCommand | undefined;
      try {
        command = await this.queue.take();
      } catch (error) {
        this.log.warn({ err: (error as Error).message }, "could not read the command queue");
      }
      if (!command) {
        if (this.wakeRequested) continue; // something arrived while we were looking
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 500);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
        continue;
      }
      await this.runCommand(command);
    }
  }

  private async runCommand(command: QueuedCommand): Promise<void> {
    const { message } = command;
    // Answered already: replayed after a crash between reply and ack, or steered into an earlier turn.
    if (await this.queue.alreadyAnswered(command)) {
      await this.queue.complete(command);
      return;
    }
    const route = this.router.open(message);
    if (await this.answeredBeforeCrash(command, route)) return;
    this.current = { command, startedAt: Date.now() };
    const requestId = message.id;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      this.log.warn({ requestId, after: this.options.turnTimeoutMs }, "turn took too long; aborting");
      void this.agent.abort();
    }, this.options.turnTimeoutMs);
    const origin = originOf(
      message,
      command.entries.map((e) => e.id),
    );
    // Shown before (a replay or a retry): the session may hold the earlier attempt's message.
    const shownBefore = command.interruptedAt !== undefined || command.attempts > 0;
    const gateway = turnDetails(command, shownBefore && message.gateway ? this.agent.heldEventIds(message.gateway.ids) : new Set());
    route.send({ type: "start", requestId, origin, prompt: capText(message.text, LIVE_PROMPT_MAX), ...(gateway?.events ? { events: gateway.events } : {}) });
    try {
      // Written before pi sees the text: a replay after a crash then knows the agent saw it.
      await this.queue.begin(command);
      const outcome = await this.agent
        .run(requestId, promptText(command), (event) => route.send(event), origin, gateway, message.images)
        .then(
          (result): TurnOutcome => ({ result }),
          (error: Error): TurnOutcome => ({ error }),
        );
      await this.settle(command, route, outcome, timedOut);
    } catch (error) {
      // Redis refused the bookkeeping: the command stays pending and is taken again; pause so a
      // persistent fault does not spin the loop through turns.
      this.log.error({ requestId, err: (error as Error).message }, "could not record the outcome of a turn; it stays queued");
      await sleep(1_000);
    } finally {
      clearTimeout(timer);
      this.options.observer?.turnEnded(message.priority, (Date.now() - this.current.startedAt) / 1000);
      this.current = undefined;
    }
  }

  /**
   * A replayed gateway command whose turn the session shows as finished (the daemon died between
   * the reply and the queue's bookkeeping): its reply is routed and it completes, without a second turn.
   */
  private async answeredBeforeCrash(command: QueuedCommand, route: ReplyRoute): Promise<boolean> {
    if (command.interruptedAt === undefined || !command.message.gateway) return false;
    const text = this.agent.answeredInSession(command.entries.map((e) => e.id));
    if (text === undefined) return false;
    const requestId = command.message.id;
    this.log.warn({ requestId }, "replayed command was already answered in the session; completing it without a new turn");
    route.send({
      type: "start",
      requestId,
      origin: originOf(
        command.message,
        command.entries.map((e) => e.id),
      ),
      events: command.message.gateway.events,
    });
    await this.settle(command, route, { result: { text, aborted: false } }, false).catch(async (error: Error) => {
      this.log.error({ requestId, err: error.message }, "could not record the outcome of a turn; it stays queued");
      await sleep(1_000);
    });
    return true;
  }

  /** What a finished turn means for its command: answered, checkpointed, retried later or dead-lettered. */
  private async settle(command: QueuedCommand, route: ReplyRoute, outcome: TurnOutcome, timedOut: boolean): Promise<void> {
    if ("error" in outcome) return this.failed(command, route, outcome.error);
    const { result } = outcome;
    const requestId = command.message.id;
    // Checkpoint on shutdown: left queued with its start recorded, so the next start replays it with a note.
    if (result.aborted && this.state === "stopping") return;
    const timeout = formatDuration(this.options.turnTimeoutMs);
    // Nobody is waiting on an event to ask again: a timed-out one must not vanish.
    if (result.aborted && timedOut && command.message.priority === "event") return this.giveUp(command, route, `turn aborted after ${timeout}`);
    // Answered before the reply leaves: a crash after the asker has it (before the ack below) must
    // not run the turn again; a replay then only completes it (runCommand's alreadyAnswered).
    if (!result.aborted) await this.queue.recordAnswered(command);
    // A user's /abort, or a human's request that timed out (they are told and can ask again).
    route.send(
      result.aborted ? { type: "error", requestId, message: `aborted${timedOut ? ` after ${timeout}` : ""}` } : { type: "end", requestId, text: result.text },
    );
    await route.flush();
    await this.queue.complete(command);
    this.processed += 1;
    if (!result.aborted) await this.journalReply(command, result.text);
  }

  /** The reply in the journal (HEARTBEAT_OK left out by the host). After the command is complete: a failure here must not make it run again. */
  private async journalReply(command: QueuedCommand, text: string): Promise<void> {
    const origin = originOf(command.message);
    await this.host.journalReply({ id: origin.requestId, channel: origin.channel, types: origin.types, sources: origin.sources, text });
  }

  /** A failed turn: try again later while the failure looks transient and retries remain, else give up. */
  private async failed(command: QueuedCommand, route: ReplyRoute, error: Error): Promise<void> {
    const requestId = command.message.id;
    const reason = oneLine(error.message);
    if (error instanceof NoModelError && command.message.priority !== "human") {
      // Nobody will ask again for an event: it waits for a model (a /login, an API key, models.json)
      // instead of being dead-lettered; a person was told at once and can ask again.
      const delayMs = this.options.turnRetryBackoffMs;
      await this.queue.retryLater(
        command,
        { attempts: command.attempts, notBefore: Date.now() + delayMs, error: reason },
        `waiting for a model, next look in ${formatDuration(delayMs)}: ${reason}`,
      );
      this.log.warn({ requestId, delayMs }, "no model: the event waits for one");
      return;
    }
    const retry = command.attempts + 1;
    const { turnRetries } = this.options;
    const transient = isTransientFailure(error.message);
    if (transient && retry <= turnRetries) {
      const delayMs = backoffDelay(retry, { baseMs: this.options.turnRetryBackoffMs, capMs: RETRY_BACKOFF_CAP_MS });
      const note = `retry ${retry} of ${turnRetries} in ${formatDuration(delayMs)}: ${reason}`;
      await this.queue.retryLater(command, { attempts: retry, notBefore: Date.now() + delayMs, error: reason }, note);
      this.log.warn({ requestId, retry, of: turnRetries, delayMs, err: reason }, "turn failed; retrying later");
      return;
    }
    this.log.error({ requestId, attempts: retry, transient, err: reason }, "turn failed; dead-lettered");
    await this.giveUp(command, route, transient ? `turn failed ${retry} times: ${reason}` : `turn failed: ${reason}`);
  }

  /** Dead-letters the command with the reason (first, so a crash cannot lose it), then tells whoever asked. */
  private async giveUp(command: QueuedCommand, route: ReplyRoute, reason: string): Promise<void> {
    await this.queue.deadLetter(command, reason);
    this.options.observer?.deadLettered(Math.max(1, command.entries.length));
    route.send({ type: "error", requestId: command.message.id, message: `${reason} (dead-lettered: see pi-gateway dead-letters)` });
    await route.flush();
  }
}

type TurnOutcome = { result: TurnResult } | { error: Error };

/** A gateway command's details for this attempt: a fresh batch id, and the commands the turn answers. */
/**
 * The details of a turn's gateway message. Events the session already records (an earlier attempt's
 * message, before a kill -9 or a failed call to the model) are named in `again`, not in `ids`: the
 * agent is shown them again, the session records each event once.
 */
function turnDetails(command: QueuedCommand, held: ReadonlySet<string>): GatewayMessageDetails | undefined {
  const { gateway } = command.message;
  if (!gateway) return undefined;
  const details: GatewayMessageDetails = { ...gateway, batch: randomUUID(), requests: command.entries.map((e) => e.id) };
  const again = gateway.ids.filter((id) => held.has(id));
  if (again.length === 0) return details;
  return { ...details, ids: gateway.ids.filter((id) => !held.has(id)), again };
}

/** Longest prompt text sent live with a turn's start (the history API has it whole). */
const LIVE_PROMPT_MAX = 4_000;

/** One line: who holds the id and the three ways out. */
export function sessionHeldMessage(sessionId: string, holder: LeaseHolder | undefined): string {
  const who = holder ? describeHolder(holder) : "another live instance";
  return `session id "${sessionId}" is held by ${who}; stop it, set another GATEWAY_ID, or run pi-gateway daemon --takeover`;
}

function sameAddress(a: ReplyAddress | undefined, b: ReplyAddress | undefined): boolean {
  return a !== undefined && b !== undefined && a.channel === b.channel && a.to === b.to;
}
