/**
 * The daemon's durable command queue: one Redis stream per priority, read through a consumer
 * group. A command is stored (and deduplicated by id) before its channel is told "queued"; it is
 * read into the group's pending list when taken, and acknowledged and deleted only when its turn
 * is finished. After a crash, whatever is still pending is taken again first: the command that was
 * mid-turn is replayed. A "done" set written before the acknowledgement makes sure a command whose
 * reply already went out is not answered twice.
 *
 * A command's turn is marked "started" when it begins, so a replay knows whether the agent already
 * saw it in a turn that was interrupted. A command whose turn failed stays pending with a retry
 * state (attempts, not-before time) that `take` honours, or is dead-lettered with the reason; both
 * live in Redis, so a restart neither forgets a retry nor runs it early.
 *
 * Priority: human before event before heartbeat. A command that has waited longer than the aging
 * limit goes first (oldest first), so a steady stream of chat never starves events, but an aged
 * event or heartbeat never runs twice in a row while a human waits: between two human turns there
 * is at most one other turn, so a flood of events never starves people either.
 *
 * Batching: the event commands waiting when an event turn starts (up to a cap of events and of
 * prompt bytes) become one turn, so one turn clears the backlog and throughput grows with load.
 * The batch begins, completes, retries and is replayed as a whole.
 */
import { readFileSync } from "node:fs";
import type { Redis } from "ioredis";
import { z } from "zod";
import { DEFAULT_BUS_OPTIONS } from "../config/bus-options.js";
import { DEFAULT_CENTRAL_SESSION, keySpace } from "../protocol/keys.js";
import { eventCount, mergeBatch, sameReply } from "./event-batch.js";
import type { InboundMessage, Priority, QueueMode } from "./types.js";

export const PRIORITIES: Priority[] = ["human", "event", "heartbeat"];

const BYTES_PER_TOKEN = 4;
const BATCH_SHARE_OF_WINDOW = 0.25;
const GROUP = "daemon";
const CONSUMER = "daemon";

const InboundSchema = z.object({
  id: z.string().min(1),
  channel: z.string().min(1),
  text: z.string(),
  priority: z.enum(["human", "event", "heartbeat"]),
  replyTo: z.object({ channel: z.string(), to: z.string() }).optional(),
  mode: z.enum(["followUp", "steer", "collect"]).optional(),
  meta: z.record(z.string(), z.string()).optional(),
});

export interface QueuedCommand {
  message: InboundMessage;
  /** Stream entries behind it (more than one when collect mode merged several). */
  entries: Array<{ priority: Priority; streamId: string; id: string }>;
  enqueuedAt: number;
  /** True when this command was taken before and is being replayed after a restart. */
  replayed: boolean;
  /** Failed attempts so far (kept in Redis, so it survives a restart). */
  attempts: number;
  /** The error of the last failed attempt. */
  lastError?: string;
  /** When its turn started, if it started and never finished: the agent saw it in an interrupted turn. */
  interruptedAt?: number;
}

/** Why a failed command is not run before `notBefore` (ms), and how often it failed. */
export interface RetryState {
  attempts: number;
  notBefore: number;
  error: string;
}

export interface CommandQueueOptions {
  prefix: string;
  dedupWindowMs: number;
  /** Most ids the seen and done sets keep (the oldest go first); unset: the bus default. */
  dedupMax?: number;
  agingMs: number;
  collectWindowMs: number;
  /** The daemon's bus session id: dead letters and journal entries name it. */
  session: string;
  deadLetterCap: number;
  journalCap: number;
  /** Most events one turn carries (the first command is taken whole, however many it holds). */
  turnMaxEvents?: number;
  /** Most prompt bytes one turn carries (same exception). */
  turnMaxBytes?: number;
}

export const DEFAULT_TURN_MAX_EVENTS = 50;
export const DEFAULT_TURN_MAX_BYTES = 256 * 1024;
/** The recent window of the load figures (turns/s, events per turn). */
export const LOAD_WINDOW_MS = 60_000;
/** Turns kept in the turns stream (approximately): far more than one window holds at any sane rate. */
const TURNS_CAP = 2_000;

/** What the queue looks like now, and how fast turns went recently. */
export interface QueueLoad {
  depth: Record<Priority, number>;
  /** Age of the oldest event command still waiting (or running), null when none. */
  oldestEventAgeMs: number | null;
  windowSeconds: number;
  turns: number;
  turnsPerSecond: number;
  /** Mean events per turn that carried events in the window, null when none did. */
  eventsPerTurn: number | null;
}

const enqueueLua = readFileSync(new URL("./commands/enqueue-2.lua", import.meta.url), "utf8");
const retryLua = readFileSync(new URL("./commands/retry-3.lua", import.meta.url), "utf8");
const deadLetterLua = readFileSync(new URL("./commands/deadletter-5.lua", import.meta.url), "utf8");
const completeLua = readFileSync(new URL("./commands/complete-7.lua", import.meta.url), "utf8");
type Script = (...args: Array<string | number>) => Promise<unknown>;

export class CommandQueue {
  /** Set by fitTurnsToWindow(): the batch size the model's window allows. */
  private windowBytes = Number.POSITIVE_INFINITY;
  private readonly keys;
  /** "<priority>:<stream id>" of entries read before this process started: those are replays (ids repeat across streams). */
  private readonly replaySet = new Set<string>();
  /** Priority of the last command taken: an aged non-human one never follows another while a human waits. */
  private lastTaken: Priority | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly options: CommandQueueOptions,
  ) {
    const p = options.prefix;
    const gateway = keySpace(p);
    // A daemon with its own GATEWAY_ID (a second daemon next to the default one) gets its own
    // queue; the default id keeps the original key names, so an upgrade finds its queued commands.
    const d = options.session === DEFAULT_CENTRAL_SESSION ? `${p}:daemon` : `${p}:daemon:${options.session}`;
    this.keys = {
      stream: (priority: Priority) => `${d}:queue:${priority}`,
      seen: `${d}:seen`,
      done: `${d}:done`,
      /** Hash command id -> time its turn started; removed when the turn ends in any way. */
      started: `${d}:started`,
      /** Hash command id -> RetryState JSON, for commands whose turn failed and will run again. */
      retry: `${d}:retry`,
      /** Capped stream, one entry per answered turn (events it carried): the load figures. */
      turns: `${d}:turns`,
      deadLetters: gateway.deadLetters,
      journal: gateway.journal,
    };
    redis.defineCommand("gw_enqueue", { numberOfKeys: 2, lua: enqueueLua });
    redis.defineCommand("gw_daemon_retry", { numberOfKeys: 3, lua: retryLua });
    redis.defineCommand("gw_daemon_deadletter", { numberOfKeys: 5, lua: deadLetterLua });
    redis.defineCommand("gw_daemon_complete", { numberOfKeys: 7, lua: completeLua });
  }

  /** Creates the consumer groups and notes what was in flight when the last process died. */
  async init(): Promise<number> {
    for (const priority of PRIORITIES) {
      await this.redis.xgroup("CREATE", this.keys.stream(priority), GROUP, "0", "MKSTREAM").catch((error: Error) => {
        if (!error.message.includes("BUSYGROUP")) throw error;
      });
      const pending = (await this.redis.xpending(this.keys.stream(priority), GROUP, "-", "+", 1000)) as Array<[string, string, number, number]>;
      for (const [streamId] of pending) this.replaySet.add(`${priority}:${streamId}`);
    }
    return this.replaySet.size;
  }

  /** Stores a command; `alsoSeen` are further dedup ids it stands for (the events of a batch). */
  async submit(message: InboundMessage, alsoSeen: string[] = []): Promise<"queued" | "duplicate"> {
    const parsed = InboundSchema.parse(message);
    const [status] = (await this.script("gw_enqueue")(
      this.keys.seen,
      this.keys.stream(parsed.priority),
      parsed.id,
      JSON.stringify(parsed),
      this.options.dedupWindowMs,
      this.dedupMax,
      ...alsoSeen,
    )) as string[];
    return status === "duplicate" ? "duplicate" : "queued";
  }

  /** Which of these ids were already stored (directly or as part of another command). */
  async seen(ids: string[]): Promise<Set<string>> {
    if (!ids.length) return new Set();
    const scores = await this.redis.zmscore(this.keys.seen, ...ids);
    return new Set(ids.filter((_, i) => scores[i] !== null));
  }

  /**
   * The next command to run, or undefined when every queue is empty or everything in it waits for
   * its retry time. A command waiting for a retry never blocks the ones behind it.
   */
  async take(): Promise<QueuedCommand | undefined> {
    const retries = await this.retryStates();
    const now = Date.now();
    const due = (id: string) => (retries.get(id)?.notBefore ?? 0) <= now;
    const heads = await Promise.all(PRIORITIES.map((p) => this.head(p, due)));
    const available = heads.filter((h): h is NonNullable<typeof h> => h !== undefined);
    if (!available.length) return undefined;
    const chosen = this.choose(available, now);
    const priority = chosen.entries[0]!.priority;
    this.lastTaken = priority;
    let command = chosen;
    if (chosen.message.mode === "collect") command = await this.collect(chosen, due);
    else if (priority === "event") command = await this.batchEvents(chosen, due);
    return this.withHistory(command, retries);
  }

  /**
   * Aged commands first (oldest of them), then by priority; but while a human waits, an aged event
   * or heartbeat goes only right after a human turn (or the first turn of this process).
   */
  private choose(available: QueuedCommand[], now: number): QueuedCommand {
    const aged = available.filter((h) => now - h.enqueuedAt > this.options.agingMs).sort((a, b) => a.enqueuedAt - b.enqueuedAt);
    const human = available.find((h) => h.entries[0]!.priority === "human");
    if (aged[0] && human && this.lastTaken !== undefined && this.lastTaken !== "human") return human;
    return aged[0] ?? available[0]!;
  }

  /** Records that the command's turn starts now (kept if an interrupted turn had already started it). */
  async begin(command: QueuedCommand): Promise<void> {
    const multi = this.redis.multi();
    for (const entry of command.entries) multi.hsetnx(this.keys.started, entry.id, Date.now());
    await multi.exec();
  }

  /** The turn failed but may succeed later: keep the command pending, not to be taken before `state.notBefore`. */
  async retryLater(command: QueuedCommand, state: RetryState, journalReason: string): Promise<void> {
    await this.script("gw_daemon_retry")(
      this.keys.retry,
      this.keys.started,
      this.keys.journal,
      this.options.journalCap,
      this.options.session,
      JSON.stringify(state),
      journalReason,
      ...command.entries.map((e) => e.id),
    );
  }

  /** Gives up on a command: dead letter with the reason, journal entry, out of the queue (one atomic step). */
  async deadLetter(command: QueuedCommand, reason: string): Promise<void> {
    const priority = command.entries[0]!.priority;
    await this.script("gw_daemon_deadletter")(
      this.keys.deadLetters,
      this.keys.journal,
      this.keys.stream(priority),
      this.keys.retry,
      this.keys.started,
      this.options.session,
      this.options.deadLetterCap,
      this.options.journalCap,
      GROUP,
      reason,
      JSON.stringify(command.message),
      command.message.id,
      ...command.entries.flatMap((e) => [e.streamId, e.id]),
    );
  }

  /** Marks a command answered (so a replay will not answer again), then drops it from the queue. */
  async complete(command: QueuedCommand): Promise<void> {
    await this.script("gw_daemon_complete")(
      this.keys.done,
      this.keys.started,
      this.keys.retry,
      this.keys.turns,
      ...PRIORITIES.map((p) => this.keys.stream(p)),
      GROUP,
      this.options.dedupWindowMs,
      command.entries[0]!.priority === "event" ? eventCount(command.message) : 0,
      TURNS_CAP,
      this.dedupMax,
      ...command.entries.flatMap((e) => [PRIORITIES.indexOf(e.priority) + 1, e.streamId, e.id]),
    );
  }

  /** Records a command as answered without running it (its text joined an earlier turn). */
  async markAnswered(id: string): Promise<void> {
    await this.redis.zadd(this.keys.done, Date.now(), id);
  }

  /** Was this command already answered (a replay after a crash between reply and ack)? */
  async alreadyAnswered(command: QueuedCommand): Promise<boolean> {
    const scores = await Promise.all(command.entries.map((e) => this.redis.zscore(this.keys.done, e.id)));
    return scores.every((s) => s !== null);
  }

  async depth(): Promise<Record<Priority, number>> {
    const lengths = await Promise.all(PRIORITIES.map((p) => this.redis.xlen(this.keys.stream(p))));
    return { human: lengths[0]!, event: lengths[1]!, heartbeat: lengths[2]! };
  }

  /** Depth per priority, the oldest waiting event's age, and the turns of the last LOAD_WINDOW_MS. */
  async load(now = Date.now()): Promise<QueueLoad> {
    const since = now - LOAD_WINDOW_MS;
    const [depth, oldest, turns] = await Promise.all([
      this.depth(),
      this.redis.xrange(this.keys.stream("event"), "-", "+", "COUNT", 1),
      this.redis.xrange(this.keys.turns, String(since), "+") as Promise<Array<[string, string[]]>>,
    ]);
    const oldestAt = oldest[0] ? Number(oldest[0][0].split("-")[0]) : undefined;
    const carried = turns.map(([, fields]) => Number(fields[fields.indexOf("events") + 1] ?? 0)).filter((n) => n > 0);
    return {
      depth,
      oldestEventAgeMs: oldestAt === undefined ? null : Math.max(0, now - oldestAt),
      windowSeconds: LOAD_WINDOW_MS / 1000,
      turns: turns.length,
      turnsPerSecond: round(turns.length / (LOAD_WINDOW_MS / 1000)),
      eventsPerTurn: carried.length ? round(carried.reduce((a, b) => a + b, 0) / carried.length) : null,
    };
  }

  /**
   * The first command of a priority that may run now: one already taken but not finished (a replay,
   * or a failed one whose retry time has come), else the next new one. Pending commands still
   * waiting for their retry are passed over.
   */
  private async head(priority: Priority, due: (id: string) => boolean): Promise<QueuedCommand | undefined> {
    const stream = this.keys.stream(priority);
    for (let after = "0"; ; ) {
      const page = await this.readGroup(stream, after, 100);
      if (!page.length) break;
      for (const [streamId, fields] of page) {
        if (!fields) {
          // Deleted while pending (trimmed): nothing to run, just clear it.
          await this.redis.xack(stream, GROUP, streamId);
          continue;
        }
        const command = this.toCommand(priority, streamId, fields);
        if (due(command.message.id)) return command;
      }
      after = page.at(-1)![0];
    }
    const [fresh] = await this.readGroup(stream, ">", 1);
    return fresh?.[1] ? this.toCommand(priority, fresh[0], fresh[1]) : undefined;
  }

  /** XREADGROUP on one stream: `from` "0" or an id pages through the pending list, ">" reads new entries. */
  private async readGroup(stream: string, from: string, count: number): Promise<Array<[string, string[] | null]>> {
    const reply = (await this.redis.xreadgroup("GROUP", GROUP, CONSUMER, "COUNT", count, "STREAMS", stream, from)) as
      | Array<[string, Array<[string, string[] | null]>]>
      | null;
    return reply?.[0]?.[1] ?? [];
  }

  private async retryStates(): Promise<Map<string, RetryState>> {
    const states = new Map<string, RetryState>();
    for (const [id, json] of Object.entries(await this.redis.hgetall(this.keys.retry))) {
      try {
        states.set(id, JSON.parse(json) as RetryState);
      } catch {
        // An unreadable state must not hold a command back forever: it runs as if it never failed.
      }
    }
    return states;
  }

  /** Adds what Redis remembers about earlier attempts: failures so far, and a turn that was interrupted. */
  private async withHistory(command: QueuedCommand, retries: Map<string, RetryState>): Promise<QueuedCommand> {
    const ids = command.entries.map((e) => e.id);
    const started = (await this.redis.hmget(this.keys.started, ...ids)).filter((v): v is string => v !== null).map(Number);
    const last = ids.map((id) => retries.get(id)).filter((s): s is RetryState => s !== undefined).sort((a, b) => b.attempts - a.attempts)[0];
    return {
      ...command,
      attempts: last?.attempts ?? 0,
      lastError: last?.error,
      interruptedAt: started.length ? Math.min(...started) : undefined,
    };
  }

  private get dedupMax(): number {
    return this.options.dedupMax ?? DEFAULT_BUS_OPTIONS.dedupMax;
  }

  private script(name: string): Script {
    const command = (this.redis as unknown as Record<string, Script>)[name]!;
    return (...args) => command.call(this.redis, ...args);
  }

  private toCommand(priority: Priority, streamId: string, fields: string[]): QueuedCommand {
    const map: Record<string, string> = {};
    for (let i = 0; i < fields.length; i += 2) map[fields[i]!] = fields[i + 1]!;
    const message = InboundSchema.parse(JSON.parse(map.command ?? "{}")) as InboundMessage;
    return {
      message,
      entries: [{ priority, streamId, id: message.id }],
      enqueuedAt: Number(streamId.split("-")[0]),
      replayed: this.replaySet.has(`${priority}:${streamId}`),
      attempts: 0,
    };
  }

  /**
   * The event commands that may join `first` in one turn: those already taken but not finished
   * (replays, due retries) first, then new ones, in stream order, while the caps allow. One that
   * does not fit stays pending and heads the next batch; collect-mode ones, ones answering
   * somewhere else than `first`, and ones whose turn started when `first`'s did not (or the
   * reverse) are left for their own turn.
   */
  /**
   * The model's context window caps a batch too: at most a quarter of it (about 4 bytes a token),
   * so a batch still fits after the conversation is compacted to about a third of the window
   * (context-budget.ts) and is never dead-lettered for its size alone.
   */
  fitTurnsToWindow(windowTokens: number): void {
    this.windowBytes = Math.max(1, Math.floor(windowTokens * BYTES_PER_TOKEN * BATCH_SHARE_OF_WINDOW));
  }

  private async batchEvents(first: QueuedCommand, due: (id: string) => boolean): Promise<QueuedCommand> {
    const stream = this.keys.stream("event");
    const maxEvents = this.options.turnMaxEvents ?? DEFAULT_TURN_MAX_EVENTS;
    const maxBytes = Math.min(this.options.turnMaxBytes ?? DEFAULT_TURN_MAX_BYTES, this.windowBytes);
    const members = [first];
    let events = eventCount(first.message);
    let bytes = Buffer.byteLength(first.message.text);
    /** Adds the command if it fits; false once the batch is full (keeps the stream order). */
    const join = (command: QueuedCommand): boolean => {
      const n = eventCount(command.message);
      const size = Buffer.byteLength(command.message.text);
      if (events + n > maxEvents || bytes + size > maxBytes) return false;
      members.push(command);
      events += n;
      bytes += size;
      return true;
    };
    // A batch interrupted by a crash is replayed as it was (its "already shown" note true for all of
    // it); commands that never started go together in the next turn, as new.
    const started = new Set(await this.redis.hkeys(this.keys.started));
    const wasStarted = started.has(first.message.id);
    const joins = (m: InboundMessage) => m.mode !== "collect" && sameReply(m, first.message) && due(m.id) && started.has(m.id) === wasStarted;
    const firstStreamId = first.entries[0]!.streamId;
    for (const from of ["pending", "new"] as const) {
      for (let after = "0"; events < maxEvents; ) {
        const page = await this.readGroup(stream, from === "new" ? ">" : after, from === "new" ? Math.min(100, maxEvents - events) : 100);
        if (!page.length) break;
        for (const [streamId, fields] of page) {
          if (!fields || streamId === firstStreamId) continue;
          const command = this.toCommand("event", streamId, fields);
          if (joins(command.message) && !join(command)) return mergeBatch(members);
        }
        after = page.at(-1)![0];
      }
    }
    return mergeBatch(members);
  }

  /**
   * Collect mode: wait until the source has been quiet for the collect window, then merge every
   * waiting collect-mode command of the same source into one (in order).
   */
  private async collect(first: QueuedCommand, due: (id: string) => boolean): Promise<QueuedCommand> {
    const priority = first.entries[0]!.priority;
    const stream = this.keys.stream(priority);
    // One still waiting for its retry is not pulled in early.
    const sameSource = (m: InboundMessage) =>
      m.mode === "collect" && m.channel === first.message.channel && m.replyTo?.to === first.message.replyTo?.to && due(m.id);
    let lastSeen = first.enqueuedAt;
    for (;;) {
      const wait = lastSeen + this.options.collectWindowMs - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const entries = (await this.redis.xrange(stream, "-", "+", "COUNT", 200)) as Array<[string, string[]]>;
      const newest = entries.map(([id, f]) => this.toCommand(priority, id, f)).filter((c) => sameSource(c.message)).at(-1);
      if (!newest || newest.enqueuedAt <= lastSeen) break;
      lastSeen = newest.enqueuedAt;
    }
    // Read everything up to now into the pending list, then take the same-source ones.
    await this.redis.xreadgroup("GROUP", GROUP, CONSUMER, "COUNT", 200, "STREAMS", stream, ">");
    const pending = (await this.redis.xreadgroup("GROUP", GROUP, CONSUMER, "COUNT", 200, "STREAMS", stream, "0")) as Array<
      [string, Array<[string, string[] | null]>]
    > | null;
    const merged = (pending?.[0]?.[1] ?? [])
      .filter((e): e is [string, string[]] => e[1] !== null)
      .map(([id, f]) => this.toCommand(priority, id, f))
      .filter((c) => sameSource(c.message));
    if (merged.length <= 1) return first;
    return {
      message: { ...first.message, text: merged.map((c) => c.message.text).join("\n\n") },
      entries: merged.flatMap((c) => c.entries),
      enqueuedAt: first.enqueuedAt,
      replayed: merged.some((c) => c.replayed),
      attempts: 0,
    };
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

export type { QueueMode };
