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
 * Priority: human before event before heartbeat, except that a command that has waited longer than
 * the aging limit goes first, so a steady stream of chat never starves events.
 */
import { readFileSync } from "node:fs";
import type { Redis } from "ioredis";
import { z } from "zod";
import { DEFAULT_BUS_OPTIONS } from "../config/bus-options.js";
import { DEFAULT_CENTRAL_SESSION, keySpace } from "../protocol/keys.js";
import type { InboundMessage, Priority, QueueMode } from "./types.js";

export const PRIORITIES: Priority[] = ["human", "event", "heartbeat"];
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
}

const enqueueLua = readFileSync(new URL("./commands/enqueue-2.lua", import.meta.url), "utf8");
const retryLua = readFileSync(new URL("./commands/retry-3.lua", import.meta.url), "utf8");
const deadLetterLua = readFileSync(new URL("./commands/deadletter-5.lua", import.meta.url), "utf8");
type Script = (...args: Array<string | number>) => Promise<unknown>;

export class CommandQueue {
  private readonly keys;
  /** "<priority>:<stream id>" of entries read before this process started: those are replays (ids repeat across streams). */
  private readonly replaySet = new Set<string>();

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
      deadLetters: gateway.deadLetters,
      journal: gateway.journal,
    };
    redis.defineCommand("gw_enqueue", { numberOfKeys: 2, lua: enqueueLua });
    redis.defineCommand("gw_daemon_retry", { numberOfKeys: 3, lua: retryLua });
    redis.defineCommand("gw_daemon_deadletter", { numberOfKeys: 5, lua: deadLetterLua });
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
    // Aged commands first (oldest of them), then by priority.
    const aged = available.filter((h) => now - h.enqueuedAt > this.options.agingMs).sort((a, b) => a.enqueuedAt - b.enqueuedAt);
    const chosen = aged[0] ?? available[0]!;
    const command = chosen.message.mode === "collect" ? await this.collect(chosen, due) : chosen;
    return this.withHistory(command, retries);
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
    const multi = this.redis.multi();
    for (const entry of command.entries) {
      multi.zadd(this.keys.done, Date.now(), entry.id);
      multi.xack(this.keys.stream(entry.priority), GROUP, entry.streamId);
      multi.xdel(this.keys.stream(entry.priority), entry.streamId);
      multi.hdel(this.keys.started, entry.id);
      multi.hdel(this.keys.retry, entry.id);
    }
    multi.zremrangebyscore(this.keys.done, "-inf", Date.now() - this.options.dedupWindowMs);
    multi.zremrangebyrank(this.keys.done, 0, -(this.dedupMax + 1));
    await multi.exec();
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

export type { QueueMode };
