/**
 * The daemon's command queue: which stored command runs next, and what joins it in one turn. The
 * commands themselves live in Redis behind the bus (src/bus/command-queue.ts: one stream per
 * priority, consumer group, replay after a crash, retry state, dead letters); this is the policy
 * on top of it.
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
import { z } from "zod";
import {
  PRIORITIES,
  type CommandQueueStore,
  type QueueEntry,
  type QueueLoad,
  type RetryState,
  type StoredCommand,
  type TakeSnapshot,
} from "../bus/command-queue.js";
import { mergeDetails, parseGatewayDetails } from "../host/gateway-message.js";
import { SHOWN_EVENTS_MAX } from "../host/event-prompt.js";
import { DIGEST_BYTES, eventCount, mergeBatch, sameReply, TurnShown } from "./event-batch.js";
import { PromptQuota } from "./prompt-quota.js";
import { MAX_IMAGE_BASE64, MAX_IMAGES, type InboundMessage, type Priority, type QueueMode } from "./types.js";

export { PRIORITIES, type QueueLoad, type RetryState };

const BYTES_PER_TOKEN = 4;
const BATCH_SHARE_OF_WINDOW = 0.25;

const InboundSchema = z.object({
  id: z.string().min(1),
  channel: z.string().min(1),
  text: z.string(),
  priority: z.enum(["human", "event", "heartbeat"]),
  replyTo: z.object({ channel: z.string(), to: z.string() }).optional(),
  mode: z.enum(["followUp", "steer", "collect"]).optional(),
  meta: z.record(z.string(), z.string()).optional(),
  // Checked like details read back from a session file: malformed parts dropped, never the command.
  gateway: z
    .unknown()
    .transform((value) => (value === undefined ? undefined : parseGatewayDetails(value)))
    .optional(),
  images: z
    .array(
      z.object({
        data: z
          .string()
          .min(1)
          .max(MAX_IMAGE_BASE64)
          .regex(/^[A-Za-z0-9+/]+=*$/, "is not base64"),
        mimeType: z.string().regex(/^image\/[a-z0-9.+-]+$/),
      }),
    )
    .max(MAX_IMAGES)
    .optional(),
});

export interface QueuedCommand {
  message: InboundMessage;
  /** Stream entries behind it (more than one when collect mode merged several). */
  entries: QueueEntry[];
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

export interface CommandQueueOptions {
  agingMs: number;
  collectWindowMs: number;
  /** Most events one turn carries (the first command is taken whole, however many it holds). */
  turnMaxEvents?: number;
  /** Most prompt bytes one turn carries (same exception): the bytes it shows, not those it only sums up. */
  turnMaxBytes?: number;
  /** Events a turn shows one by one; the commands past them are summed up (event-batch.ts). */
  turnShownEvents?: number;
  /** Human prompts one client / one channel may have waiting (prompt-quota.ts); default 20 / 200. */
  promptsPerClient?: number;
  promptsPerChannel?: number;
}

export const DEFAULT_TURN_MAX_EVENTS = 5000;
export const DEFAULT_TURN_MAX_BYTES = 256 * 1024;

type Due = (id: string) => boolean;

export class CommandQueue {
  /** Set by fitTurnsToWindow(): the batch size the model's window allows. */
  private windowBytes = Number.POSITIVE_INFINITY;
  /** Priority of the last command taken: an aged non-human one never follows another while a human waits. */
  private lastTaken: Priority | undefined;

  private readonly quota: PromptQuota;
  /**
   * Whether the command take() returned was answered when it was read (the done mark, same step).
   * Dropped whenever an answer is recorded through this queue, so alreadyAnswered() never misses one.
   */
  private answeredAtTake = new WeakMap<QueuedCommand, boolean>();
  /**
   * take()'s read, made by complete() in the same script as the completion: the next take() uses it
   * instead of a round trip of its own, unless anything else went through this queue since (forgetReads).
   */
  private prefetched: { now: number; snapshot: Promise<TakeSnapshot> } | undefined;

  /** `store`: the bus's half, `bus.commandQueue(session)`. */
  constructor(
    private readonly store: CommandQueueStore,
    private readonly options: CommandQueueOptions,
  ) {
    this.quota = new PromptQuota({ perClient: options.promptsPerClient ?? 20, perChannel: options.promptsPerChannel ?? 200 });
  }

  /** Creates the consumer groups; returns how many commands were in flight when the last process died. */
  init(): Promise<number> {
    return this.store.init();
  }

  /**
   * Stores a command; `alsoSeen` are further dedup ids it stands for (the events of a batch). A
   * human prompt over its client's or channel's cap is refused (QuotaExceededError) before it is stored.
   */
  async submit(message: InboundMessage, alsoSeen: string[] = []): Promise<"queued" | "duplicate"> {
    const parsed = InboundSchema.parse(message);
    this.quota.check(parsed);
    this.forgetReads();
    const status = await this.store.enqueue(parsed.priority, parsed.id, JSON.stringify(parsed), alsoSeen);
    if (status === "queued") this.quota.add(parsed);
    return status;
  }

  /** Which of these ids were already stored (directly or as part of another command). */
  seen(ids: string[]): Promise<Set<string>> {
    return this.store.seen(ids);
  }

  /**
   * The next command to run, or undefined when every queue is empty or everything in it waits for
   * its retry time. A command waiting for a retry never blocks the ones behind it.
   */
  async take(): Promise<QueuedCommand | undefined> {
    const { now, snapshot } = await this.read();
    const { heads, retries, started } = snapshot;
    const due: Due = (id) => (retries.get(id)?.notBefore ?? 0) <= now;
    const available = heads.map(toCommand);
    if (!available.length) return undefined;
    const chosen = this.choose(available, now);
    const priority = chosen.entries[0]!.priority;
    this.lastTaken = priority;
    let command = chosen;
    if (chosen.message.mode === "collect") command = await this.collect(chosen, due);
    else if (priority === "event") command = await this.batchEvents(chosen, due, started);
    const taken = withHistory(command, retries, started);
    // Whether it was answered, as read in the same step: alreadyAnswered() needs no round trip then.
    if (command === chosen) this.answeredAtTake.set(taken, heads[available.indexOf(chosen)]!.answered);
    return taken;
  }

  /**
   * Every priority's head, the retry states and the started marks, in one round trip; none when
   * complete() already read them and nothing went through this queue since. A read that found
   * nothing is not used (a retry may have come due since).
   */
  private async read(): Promise<{ now: number; snapshot: TakeSnapshot }> {
    const prefetched = this.prefetched;
    this.prefetched = undefined;
    const early = await prefetched?.snapshot.catch(() => undefined);
    if (early?.heads.length) return { now: prefetched!.now, snapshot: early };
    const now = Date.now();
    return { now, snapshot: await this.store.take(now) };
  }

  /** Something changed the queue: a read made before must not decide the next take(). */
  private forgetReads(): void {
    this.prefetched = undefined;
    this.answeredAtTake = new WeakMap();
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
  begin(command: QueuedCommand): Promise<void> {
    this.forgetReads();
    return this.store.begin(command.entries.map((e) => e.id));
  }

  /** The turn failed but may succeed later: keep the command pending, not to be taken before `state.notBefore`. */
  retryLater(command: QueuedCommand, state: RetryState, journalReason: string): Promise<void> {
    this.forgetReads();
    return this.store.retryLater(
      command.entries.map((e) => e.id),
      state,
      journalReason,
    );
  }

  /** Gives up on a command: dead letter with the reason, journal entry, out of the queue (one atomic step). */
  async deadLetter(command: QueuedCommand, reason: string): Promise<void> {
    this.forgetReads();
    await this.store.deadLetter(command.entries, { id: command.message.id, json: JSON.stringify(command.message) }, reason);
    this.quota.release(command.entries.map((e) => e.id));
  }

  /**
   * Marks a command answered (so a replay will not answer again), then drops it from the queue. The
   * next take()'s read is made in the same script, right after the completion (it only reads, and
   * moves new entries into the pending list, as a take() does): one round trip for both.
   */
  async complete(command: QueuedCommand): Promise<void> {
    this.forgetReads();
    const now = Date.now();
    const events = command.entries[0]!.priority === "event" ? eventCount(command.message) : 0;
    // Set before the await: anything that goes through this queue meanwhile drops it (forgetReads).
    const prefetched = { now, snapshot: this.store.completeThenTake(command.entries, events, now) };
    this.prefetched = prefetched;
    try {
      await prefetched.snapshot;
    } catch (error) {
      if (this.prefetched === prefetched) this.prefetched = undefined;
      throw error;
    }
    this.quota.release(command.entries.map((e) => e.id));
  }

  /** Records every entry of a command as answered, ahead of complete() (a replay then does not run it again). */
  async recordAnswered(command: QueuedCommand): Promise<void> {
    this.forgetReads();
    await Promise.all(command.entries.map((e) => this.store.markAnswered(e.id)));
  }

  /** Records a command as answered without running it (its text joined an earlier turn). */
  markAnswered(id: string): Promise<void> {
    this.forgetReads();
    return this.store.markAnswered(id);
  }

  /**
   * Was this command already answered (a replay after a crash between reply and ack)? Answered from
   * what take() read when no answer was recorded through this queue since (a later mark asks Redis).
   */
  async alreadyAnswered(command: QueuedCommand): Promise<boolean> {
    return this.answeredAtTake.get(command) ?? this.store.answered(command.entries.map((e) => e.id));
  }

  depth(): Promise<Record<Priority, number>> {
    return this.store.depth();
  }

  /** Depth per priority, the oldest waiting event's age, and the turns of the last minute. */
  load(now = Date.now()): Promise<QueueLoad> {
    return this.store.load(now);
  }

  /**
   * The model's context window caps a batch too: at most a quarter of it (about 4 bytes a token),
   * so a batch still fits after the conversation is compacted to about a third of the window
   * (context-budget.ts) and is never dead-lettered for its size alone.
   */
  fitTurnsToWindow(windowTokens: number): void {
    this.windowBytes = Math.max(1, Math.floor(windowTokens * BYTES_PER_TOKEN * BATCH_SHARE_OF_WINDOW));
  }

  /**
   * The event commands that may join `first` in one turn: those already taken but not finished
   * (replays, due retries) first, then new ones, in stream order, while the caps allow. One that
   * does not fit stays pending and heads the next batch; collect-mode ones, ones answering
   * somewhere else than `first`, and ones whose turn started when `first`'s did not (or the
   * reverse) are left for their own turn.
   */
  private async batchEvents(first: QueuedCommand, due: Due, started: Map<string, number>): Promise<QueuedCommand> {
    const maxEvents = this.options.turnMaxEvents ?? DEFAULT_TURN_MAX_EVENTS;
    const maxBytes = Math.min(this.options.turnMaxBytes ?? DEFAULT_TURN_MAX_BYTES, this.windowBytes);
    const shownMax = this.options.turnShownEvents ?? SHOWN_EVENTS_MAX;
    const members = [first];
    let events = eventCount(first.message);
    let bytes = Buffer.byteLength(first.message.text);
    const shown = new TurnShown(shownMax, events);
    /** Adds the command if it fits; false once the batch is full (keeps the stream order). */
    const join = (command: QueuedCommand): boolean => {
      const n = eventCount(command.message);
      // A command the turn only sums up adds no prompt bytes: the digest's bound is counted once, with the first.
      const whole = shown.fits(n);
      const size = whole ? Buffer.byteLength(command.message.text) : shown.summing ? 0 : DIGEST_BYTES;
      if (events + n > maxEvents || bytes + size > maxBytes) return false;
      members.push(command);
      shown.add(n, whole);
      events += n;
      bytes += size;
      return true;
    };
    // A batch interrupted by a crash is replayed as it was (its "already shown" note true for all of
    // it); commands that never started go together in the next turn, as new.
    const wasStarted = started.has(first.message.id);
    const joins = (m: InboundMessage) => m.mode !== "collect" && sameReply(m, first.message) && due(m.id) && started.has(m.id) === wasStarted;
    const firstStreamId = first.entries[0]!.streamId;
    for (const from of ["pending", "new"] as const) {
      for (let after = "0"; events < maxEvents;) {
        const page = await this.store.read("event", from === "new" ? ">" : after, from === "new" ? Math.min(100, maxEvents - events) : 100);
        if (!page.length) break;
        for (const entry of page) {
          if (entry.command === null || entry.streamId === firstStreamId) continue;
          const command = toCommand(entry);
          if (joins(command.message) && !join(command)) return mergeBatch(members, shownMax);
        }
        after = page.at(-1)!.streamId;
      }
    }
    return mergeBatch(members, shownMax);
  }

  /**
   * Collect mode: wait until the source has been quiet for the collect window, then merge every
   * waiting collect-mode command of the same source into one (in order).
   */
  private async collect(first: QueuedCommand, due: Due): Promise<QueuedCommand> {
    const priority = first.entries[0]!.priority;
    // One still waiting for its retry is not pulled in early.
    const sameSource = (m: InboundMessage) =>
      m.mode === "collect" && m.channel === first.message.channel && m.replyTo?.to === first.message.replyTo?.to && due(m.id);
    const ofSource = (entries: StoredCommand[]) =>
      entries
        .filter((e) => e.command !== null)
        .map(toCommand)
        .filter((c) => sameSource(c.message));
    let lastSeen = first.enqueuedAt;
    for (;;) {
      const wait = lastSeen + this.options.collectWindowMs - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const newest = ofSource(await this.store.range(priority, 200)).at(-1);
      if (!newest || newest.enqueuedAt <= lastSeen) break;
      lastSeen = newest.enqueuedAt;
    }
    // Read everything up to now into the pending list, then take the same-source ones.
    await this.store.read(priority, ">", 200);
    const merged = ofSource(await this.store.read(priority, "0", 200));
    if (merged.length <= 1) return first;
    return {
      message: withGateway(
        { ...first.message, text: merged.map((c) => c.message.text).join("\n\n"), ...mergedImages(merged.map((c) => c.message)) },
        mergeDetails(merged.map((c) => c.message.gateway)),
      ),
      entries: merged.flatMap((c) => c.entries),
      enqueuedAt: first.enqueuedAt,
      replayed: merged.some((c) => c.replayed),
      attempts: 0,
    };
  }
}

/** Adds what Redis remembers about earlier attempts: failures so far, and a turn that was interrupted. */
function withHistory(command: QueuedCommand, retries: Map<string, RetryState>, started: Map<string, number>): QueuedCommand {
  const ids = command.entries.map((e) => e.id);
  const startedAt = ids.map((id) => started.get(id)).filter((t): t is number => t !== undefined);
  const last = ids
    .map((id) => retries.get(id))
    .filter((s): s is RetryState => s !== undefined)
    .sort((a, b) => b.attempts - a.attempts)[0];
  return {
    ...command,
    attempts: last?.attempts ?? 0,
    lastError: last?.error,
    interruptedAt: startedAt.length ? Math.min(...startedAt) : undefined,
  };
}

function withGateway(message: InboundMessage, gateway: InboundMessage["gateway"]): InboundMessage {
  return gateway ? { ...message, gateway } : message;
}

/** A stored entry (not deleted) as a command: its message checked against the schema. */
function toCommand(entry: StoredCommand): QueuedCommand {
  const message = InboundSchema.parse(JSON.parse(entry.command ?? "{}")) as InboundMessage;
  return {
    message,
    entries: [{ priority: entry.priority, streamId: entry.streamId, id: message.id }],
    enqueuedAt: entry.enqueuedAt,
    replayed: entry.replayed,
    attempts: 0,
  };
}

export type { QueueMode };

/** The images of merged commands, in order (at most MAX_IMAGES: pi gets the first ones). */
function mergedImages(messages: InboundMessage[]): Pick<InboundMessage, "images"> {
  const images = messages.flatMap((m) => m.images ?? []).slice(0, MAX_IMAGES);
  return images.length > 0 ? { images } : {};
}
