/**
 * The daemon's durable command queue: one Redis stream per priority, read through a consumer
 * group. A command is stored (and deduplicated by id) before its channel is told "queued"; it is
 * read into the group's pending list when taken, and acknowledged and deleted only when its turn
 * is finished. After a crash, whatever is still pending is taken again first: the command that was
 * mid-turn is replayed. A "done" set written before the acknowledgement makes sure a command whose
 * reply already went out is not answered twice.
 *
 * Priority: human before event before heartbeat, except that a command that has waited longer than
 * the aging limit goes first, so a steady stream of chat never starves events.
 */
import { readFileSync } from "node:fs";
import type { Redis } from "ioredis";
import { z } from "zod";
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
}

export interface CommandQueueOptions {
  prefix: string;
  dedupWindowMs: number;
  agingMs: number;
  collectWindowMs: number;
}

const enqueueLua = readFileSync(new URL("./commands/enqueue-2.lua", import.meta.url), "utf8");

export class CommandQueue {
  private readonly keys;
  /** Stream ids read before this process started: those are replays. */
  private readonly replaySet = new Set<string>();

  constructor(
    private readonly redis: Redis,
    private readonly options: CommandQueueOptions,
  ) {
    const p = options.prefix;
    this.keys = {
      stream: (priority: Priority) => `${p}:daemon:queue:${priority}`,
      seen: `${p}:daemon:seen`,
      done: `${p}:daemon:done`,
    };
    redis.defineCommand("gw_enqueue", { numberOfKeys: 2, lua: enqueueLua });
  }

  /** Creates the consumer groups and notes what was in flight when the last process died. */
  async init(): Promise<number> {
    for (const priority of PRIORITIES) {
      await this.redis.xgroup("CREATE", this.keys.stream(priority), GROUP, "0", "MKSTREAM").catch((error: Error) => {
        if (!error.message.includes("BUSYGROUP")) throw error;
      });
      const pending = (await this.redis.xpending(this.keys.stream(priority), GROUP, "-", "+", 1000)) as Array<[string, string, number, number]>;
      for (const [streamId] of pending) this.replaySet.add(streamId);
    }
    return this.replaySet.size;
  }

  /** Stores a command; `alsoSeen` are further dedup ids it stands for (the events of a batch). */
  async submit(message: InboundMessage, alsoSeen: string[] = []): Promise<"queued" | "duplicate"> {
    const parsed = InboundSchema.parse(message);
    const call = (this.redis as unknown as { gw_enqueue: (...args: Array<string | number>) => Promise<string[]> }).gw_enqueue;
    const [status] = await call.call(
      this.redis,
      this.keys.seen,
      this.keys.stream(parsed.priority),
      parsed.id,
      JSON.stringify(parsed),
      this.options.dedupWindowMs,
      ...alsoSeen,
    );
    return status === "duplicate" ? "duplicate" : "queued";
  }

  /** Which of these ids were already stored (directly or as part of another command). */
  async seen(ids: string[]): Promise<Set<string>> {
    if (!ids.length) return new Set();
    const scores = await this.redis.zmscore(this.keys.seen, ...ids);
    return new Set(ids.filter((_, i) => scores[i] !== null));
  }

  /** The next command to run, or undefined when every queue is empty. */
  async take(): Promise<QueuedCommand | undefined> {
    const heads = await Promise.all(PRIORITIES.map((p) => this.head(p)));
    const now = Date.now();
    const available = heads.filter((h): h is NonNullable<typeof h> => h !== undefined);
    if (!available.length) return undefined;
    // Aged commands first (oldest of them), then by priority.
    const aged = available.filter((h) => now - h.enqueuedAt > this.options.agingMs).sort((a, b) => a.enqueuedAt - b.enqueuedAt);
    const chosen = aged[0] ?? available[0]!;
    if (chosen.message.mode === "collect") return this.collect(chosen);
    return chosen;
  }

  /** Marks a command answered (so a replay will not answer again), then drops it from the queue. */
  async complete(command: QueuedCommand): Promise<void> {
    const multi = this.redis.multi();
    for (const entry of command.entries) {
      multi.zadd(this.keys.done, Date.now(), entry.id);
      multi.xack(this.keys.stream(entry.priority), GROUP, entry.streamId);
      multi.xdel(this.keys.stream(entry.priority), entry.streamId);
    }
    multi.zremrangebyscore(this.keys.done, "-inf", Date.now() - this.options.dedupWindowMs);
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

  /** The first command of a priority: one already taken but not finished (replay), or the next new one. */
  private async head(priority: Priority): Promise<QueuedCommand | undefined> {
    const stream = this.keys.stream(priority);
    for (const from of ["0", ">"]) {
      const reply = (await this.redis.xreadgroup("GROUP", GROUP, CONSUMER, "COUNT", 1, "STREAMS", stream, from)) as
        | Array<[string, Array<[string, string[] | null]>]>
        | null;
      const entry = reply?.[0]?.[1]?.[0];
      if (!entry) continue;
      const [streamId, fields] = entry;
      if (!fields) {
        // Deleted while pending (trimmed): nothing to run, just clear it.
        await this.redis.xack(stream, GROUP, streamId);
        return this.head(priority);
      }
      return this.toCommand(priority, streamId, fields);
    }
    return undefined;
  }

  private toCommand(priority: Priority, streamId: string, fields: string[]): QueuedCommand {
    const map: Record<string, string> = {};
    for (let i = 0; i < fields.length; i += 2) map[fields[i]!] = fields[i + 1]!;
    const message = InboundSchema.parse(JSON.parse(map.command ?? "{}")) as InboundMessage;
    return {
      message,
      entries: [{ priority, streamId, id: message.id }],
      enqueuedAt: Number(streamId.split("-")[0]),
      replayed: this.replaySet.has(streamId),
    };
  }

  /**
   * Collect mode: wait until the source has been quiet for the collect window, then merge every
   * waiting collect-mode command of the same source into one (in order).
   */
  private async collect(first: QueuedCommand): Promise<QueuedCommand> {
    const priority = first.entries[0]!.priority;
    const stream = this.keys.stream(priority);
    const sameSource = (m: InboundMessage) =>
      m.mode === "collect" && m.channel === first.message.channel && m.replyTo?.to === first.message.replyTo?.to;
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
    };
  }
}

export type { QueueMode };
