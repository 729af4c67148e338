/**
 * The Redis half of the daemon's durable command queue: one stream per priority, read through a
 * consumer group, with its seen/done/started/retry bookkeeping and the turns stream behind the
 * load figures. Every write that must be atomic is a `queue-*` script in ./commands. Which command
 * runs next, and what joins it in one turn, is the daemon's policy (src/daemon/command-queue.ts).
 *
 * A command is stored (and deduplicated by id) before its channel is told "queued"; it is read
 * into the group's pending list when taken, and acknowledged and deleted only when its turn is
 * finished. After a crash, whatever is still pending is taken again first. A "done" set written
 * before the acknowledgement makes sure a command whose reply already went out is not answered twice.
 */
import type { BusContext } from "./types.js";

/** Human messages go before events, events before heartbeats (with aging, so nothing starves). */
export type CommandPriority = "human" | "event" | "heartbeat";
export const PRIORITIES: CommandPriority[] = ["human", "event", "heartbeat"];

/** The recent window of the load figures (turns/s, events per turn). */
export const LOAD_WINDOW_MS = 60_000;
/** Turns kept in the turns stream (approximately): far more than one window holds at any sane rate. */
const TURNS_CAP = 2_000;
const GROUP = "daemon";
const CONSUMER = "daemon";
/** Pending entries read per XREADGROUP while looking for one that may run. */
const PENDING_PAGE = 100;

/** One stream entry behind a command. */
export interface QueueEntry {
  priority: CommandPriority;
  streamId: string;
  /** The command id (dedup key). */
  id: string;
}

/** A stream entry as read: its command JSON, or null when the entry was deleted while pending. */
export interface StoredCommand {
  priority: CommandPriority;
  streamId: string;
  /** The command JSON ("{}" when the entry has none), null for an entry deleted while pending. */
  command: string | null;
  /** When it was stored (ms, from the stream id). */
  enqueuedAt: number;
  /** Taken before this process started and not finished: a replay. */
  replayed: boolean;
}

/** Why a failed command is not run before `notBefore` (ms), and how often it failed. */
export interface RetryState {
  attempts: number;
  notBefore: number;
  error: string;
}

/** What `take` reads in one step: the heads that may run now and the state the policy decides on. */
export interface TakeSnapshot {
  /** The first command of each priority that may run now, in PRIORITIES order (a priority with none left out). */
  heads: Array<StoredCommand & { answered: boolean }>;
  /** Retry states of the commands whose turn failed and will run again (unreadable ones left out). */
  retries: Map<string, RetryState>;
  /** Command id -> when its turn started, for every turn that started and never finished. */
  started: Map<string, number>;
}

/** What the queue looks like now, and how fast turns went recently. */
export interface QueueLoad {
  depth: Record<CommandPriority, number>;
  /** Age of the oldest event command still waiting (or running), null when none. */
  oldestEventAgeMs: number | null;
  windowSeconds: number;
  turns: number;
  turnsPerSecond: number;
  /** Mean events per turn that carried events in the window, null when none did. */
  eventsPerTurn: number | null;
}

/** The daemon queue's keys for a session (one hash tag on a cluster: every queue script stays in one slot). */
function queueKeys(ctx: BusContext, session: string) {
  const d = ctx.keys.daemon(session);
  return {
    stream: (priority: CommandPriority) => `${d}:queue:${priority}`,
    seen: `${d}:seen`,
    done: `${d}:done`,
    /** Hash command id -> time its turn started; removed when the turn ends in any way. */
    started: `${d}:started`,
    /** Hash command id -> RetryState JSON, for commands whose turn failed and will run again. */
    retry: `${d}:retry`,
    /** Capped stream, one entry per answered turn (events it carried): the load figures. */
    turns: `${d}:turns`,
  };
}

export class CommandQueueStore {
  private readonly keys;
  /** "<priority>:<stream id>" of entries read before this process started: those are replays (ids repeat across streams). */
  private readonly replaySet = new Set<string>();

  /** `session`: the daemon's bus session id; a second daemon (own GATEWAY_ID) gets its own queue. */
  constructor(
    private readonly ctx: BusContext,
    private readonly session: string,
  ) {
    this.keys = queueKeys(ctx, session);
  }

  /** Creates the consumer groups and notes what was in flight when the last process died. */
  async init(): Promise<number> {
    for (const priority of PRIORITIES) {
      await this.ctx.client.xgroup("CREATE", this.keys.stream(priority), GROUP, "0", "MKSTREAM").catch((error: Error) => {
        if (!error.message.includes("BUSYGROUP")) throw error;
      });
      const pending = (await this.ctx.client.xpending(this.keys.stream(priority), GROUP, "-", "+", 1000)) as Array<[string, string, number, number]>;
      for (const [streamId] of pending) this.replaySet.add(`${priority}:${streamId}`);
    }
    return this.replaySet.size;
  }

  /** Stores a command once (queue-enqueue-2.lua); `alsoSeen` are further dedup ids it stands for. */
  async enqueue(priority: CommandPriority, id: string, json: string, alsoSeen: string[] = []): Promise<"queued" | "duplicate"> {
    const { dedupWindowMs, dedupMax } = this.ctx.options;
    const [status] = (await this.ctx.scripts["queue-enqueue"](
      [this.keys.seen, this.keys.stream(priority)],
      [id, json, dedupWindowMs, dedupMax, ...alsoSeen],
    )) as string[];
    return status === "duplicate" ? "duplicate" : "queued";
  }

  /** Which of these ids were already stored (directly or as part of another command). */
  async seen(ids: string[]): Promise<Set<string>> {
    if (!ids.length) return new Set();
    const scores = await this.ctx.client.zmscore(this.keys.seen, ...ids);
    return new Set(ids.filter((_, i) => scores[i] !== null));
  }

  /**
   * The first command of each priority that may run now, with the retry and started state, in one
   * atomic step (queue-take-7.lua): per priority the oldest pending entry whose retry time (against
   * `now`, this process's clock) has come, else one new entry read into the pending list. A pending
   * entry deleted while pending is acknowledged away there.
   */
  async take(now: number): Promise<TakeSnapshot> {
    return this.snapshot(await this.takeScript(now, [], 0));
  }

  /**
   * Marks a turn's commands answered (so a replay will not answer again), drops them from the
   * queue, and reads what take() reads, in the same script (queue-take-7.lua): one call for both.
   */
  async completeThenTake(entries: QueueEntry[], eventsCarried: number, now: number): Promise<TakeSnapshot> {
    if (!entries.length) throw new Error("completeThenTake: no entries to complete");
    return this.snapshot(await this.takeScript(now, entries, eventsCarried));
  }

  private takeScript(now: number, completed: QueueEntry[], eventsCarried: number): Promise<unknown> {
    const { dedupWindowMs, dedupMax } = this.ctx.options;
    return this.ctx.scripts["queue-take"](
      [this.keys.retry, this.keys.started, this.keys.done, ...PRIORITIES.map((p) => this.keys.stream(p)), this.keys.turns],
      [
        GROUP,
        CONSUMER,
        now,
        PENDING_PAGE,
        dedupWindowMs,
        eventsCarried,
        TURNS_CAP,
        dedupMax,
        ...completed.flatMap((e) => [PRIORITIES.indexOf(e.priority) + 1, e.streamId, e.id]),
      ],
    );
  }

  /** queue-take's reply, parsed. */
  private snapshot(reply: unknown): TakeSnapshot {
    const [retry, started, heads] = reply as [string[], string[], Array<[string, string, number] | null>];
    const retries = new Map<string, RetryState>();
    for (let i = 0; i < retry.length; i += 2) {
      try {
        retries.set(retry[i]!, JSON.parse(retry[i + 1]!) as RetryState);
      } catch {
        // An unreadable state must not hold a command back forever: it runs as if it never failed.
      }
    }
    const startedAt = new Map<string, number>();
    for (let i = 0; i < started.length; i += 2) startedAt.set(started[i]!, Number(started[i + 1]));
    return {
      heads: heads.flatMap((head, i) => (head ? [{ ...this.stored(PRIORITIES[i]!, head[0], ["command", head[1]]), answered: head[2] === 1 }] : [])),
      retries,
      started: startedAt,
    };
  }

  /** XREADGROUP on one priority: `from` "0" or an id pages through the pending list, ">" reads new entries. */
  async read(priority: CommandPriority, from: string, count: number): Promise<StoredCommand[]> {
    const reply = (await this.ctx.client.xreadgroup("GROUP", GROUP, CONSUMER, "COUNT", count, "STREAMS", this.keys.stream(priority), from)) as Array<
      [string, Array<[string, string[] | null]>]
    > | null;
    return (reply?.[0]?.[1] ?? []).map(([streamId, fields]) => this.stored(priority, streamId, fields));
  }

  /** Up to `count` entries of a priority's stream, oldest first, pending or not (without reading them). */
  async range(priority: CommandPriority, count: number): Promise<StoredCommand[]> {
    const entries = (await this.ctx.client.xrange(this.keys.stream(priority), "-", "+", "COUNT", count)) as Array<[string, string[]]>;
    return entries.map(([streamId, fields]) => this.stored(priority, streamId, fields));
  }

  /** Records that these commands' turn starts now (kept if an interrupted turn had already started them). */
  async begin(ids: string[]): Promise<void> {
    const multi = this.ctx.client.multi();
    for (const id of ids) multi.hsetnx(this.keys.started, id, Date.now());
    await multi.exec();
  }

  /** The turn failed but may succeed later: keep the commands pending, not to be taken before `state.notBefore`. */
  async retryLater(ids: string[], state: RetryState, journalReason: string): Promise<void> {
    const { journalCap } = this.ctx.options;
    await this.ctx.scripts["queue-retry"](
      [this.keys.retry, this.keys.started, this.ctx.keys.journalOf(this.session)],
      [journalCap, this.session, JSON.stringify(state), journalReason, ...ids],
    );
  }

  /** Gives up on a command: dead letter with the reason, journal entry, out of the queue (one atomic step). */
  async deadLetter(entries: QueueEntry[], command: { id: string; json: string }, reason: string): Promise<void> {
    const { deadLetterCap, journalCap } = this.ctx.options;
    await this.ctx.scripts["queue-deadletter"](
      [
        this.ctx.keys.deadLettersOf(this.session),
        this.ctx.keys.journalOf(this.session),
        this.keys.stream(entries[0]!.priority),
        this.keys.retry,
        this.keys.started,
      ],
      [this.session, deadLetterCap, journalCap, GROUP, reason, command.json, command.id, ...entries.flatMap((e) => [e.streamId, e.id])],
    );
  }

  /** Records a command as answered without running it (its text joined an earlier turn). */
  async markAnswered(id: string): Promise<void> {
    await this.ctx.client.zadd(this.keys.done, Date.now(), id);
  }

  /** Were all these commands already answered (a replay after a crash between reply and ack)? */
  async answered(ids: string[]): Promise<boolean> {
    const scores = await Promise.all(ids.map((id) => this.ctx.client.zscore(this.keys.done, id)));
    return scores.every((s) => s !== null);
  }

  async depth(): Promise<Record<CommandPriority, number>> {
    const lengths = await Promise.all(PRIORITIES.map((p) => this.ctx.client.xlen(this.keys.stream(p))));
    return { human: lengths[0]!, event: lengths[1]!, heartbeat: lengths[2]! };
  }

  /** Depth per priority, the oldest waiting event's age, and the turns of the last LOAD_WINDOW_MS. */
  async load(now = Date.now()): Promise<QueueLoad> {
    const since = now - LOAD_WINDOW_MS;
    const [depth, oldest, turns] = await Promise.all([
      this.depth(),
      this.ctx.client.xrange(this.keys.stream("event"), "-", "+", "COUNT", 1),
      this.ctx.client.xrange(this.keys.turns, String(since), "+") as Promise<Array<[string, string[]]>>,
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

  private stored(priority: CommandPriority, streamId: string, fields: string[] | null): StoredCommand {
    let command: string | null = null;
    if (fields) {
      const map: Record<string, string> = {};
      for (let i = 0; i < fields.length; i += 2) map[fields[i]!] = fields[i + 1]!;
      command = map.command ?? "{}";
    }
    return { priority, streamId, command, enqueuedAt: Number(streamId.split("-")[0]), replayed: this.replaySet.has(`${priority}:${streamId}`) };
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
