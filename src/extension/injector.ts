/**
 * Delivers gateway messages into the running pi session and reports when pi has durably recorded
 * one: only then may the bus acknowledge the batch.
 *
 * A batch is sent as a custom message (`customType` GATEWAY_MESSAGE_TYPE) whose `details` carry
 * the event ids. pi writes that entry to the session file when the message enters the
 * conversation, so the session itself is the record of what was delivered: a batch handed out
 * again after a crash is recognised by those structured ids, never by parsing message text (a
 * payload can contain any text).
 *
 * What "recorded" takes, learned from pi's agent-session and session-manager:
 * - A message queued while the agent streams (`deliverAs` followUp/steer) lives only in memory
 *   until the running turn reaches it, and pi drops it when the turn is aborted. So in followUp
 *   mode a batch is not sent while pi is busy: it waits (its lease renewed by the consumer) and is
 *   sent, starting a turn, once pi is idle. Steer mode sends at once and waits for the entry.
 * - pi appends the entry on the message's `message_end`, after the extension handlers ran, and
 *   writes the file only once the session has an assistant message (before that every entry is
 *   kept back and flushed together). A batch counts as delivered when its entry is in the session
 *   and the file is written (or the session is in memory only, `--no-session`).
 * - A message pi did not take (the turn was aborted, or the prompt was refused) never shows up
 *   while pi goes idle: the delivery fails and the consumer hands the batch back for a retry.
 */
import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { ExtensionAPI, ExtensionContext } from "@mariozechner/pi-coding-agent";
import type { DeliverAs } from "../config/session-options.js";
import { GATEWAY_MESSAGE_TYPE, parseGatewayDetails, type GatewayMessageDetails } from "../host/gateway-message.js";

export { GATEWAY_MESSAGE_TYPE, type GatewayMessageDetails };

interface SessionEntryLike {
  type: string;
  customType?: string;
  details?: unknown;
  message?: { role?: string };
}

interface Delivery {
  details: GatewayMessageDetails;
  text: string;
  /** Entries before this index existed when the message was sent: it cannot be one of them. */
  sentAtEntry: number;
  /** When pi was last seen idle without having the message (undefined: not idle since). */
  idleSince: number | undefined;
  recorded: boolean;
  settle: (error?: Error) => void;
}

const CHECK_EVERY_MS = 50;
/** Ids of recorded events kept for the in-process check; the session history covers the rest. */
const RECORDED_CAP = 100_000;

export class PiInjector {
  private readonly deliveries = new Set<Delivery>();
  private readonly recorded = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pi: ExtensionAPI,
    private readonly ctx: () => ExtensionContext | undefined,
    private readonly deliverAs: DeliverAs,
    private readonly acceptTimeoutMs: number,
  ) {}

  /** Event ids waiting to be recorded by pi (for /gateway). */
  get holding(): number {
    let n = 0;
    for (const d of this.deliveries) n += d.details.ids.length;
    return n;
  }

  /**
   * Learns which event ids the session already holds (once per session start): its own entries,
   * and those of the newest other session file in its directory, since a supervisor that restarts
   * a crashed pi usually starts a new session, and the crash may have come between "pi wrote the
   * batch" and "the bus acknowledged it".
   */
  indexSession(): void {
    for (const entry of this.entries()) {
      const details = gatewayDetails(entry);
      if (details) this.remember(details.ids);
    }
    const manager = this.ctx()?.sessionManager;
    const previous = manager && previousSessionFile(manager.getSessionDir(), manager.getSessionFile());
    if (previous) for (const ids of gatewayIdsInFile(previous)) this.remember(ids);
  }

  /** Resolves once pi has durably recorded `text` as a gateway message with these details (its `ids` recorded). */
  deliver(text: string, details: Omit<GatewayMessageDetails, "batch">): Promise<void> {
    if (!this.ctx()) return Promise.reject(new Error("pi session is not running"));
    const { ids } = details;
    return new Promise<void>((resolve, reject) => {
      const delivery: Delivery = {
        details: { ...details, batch: randomUUID() },
        text,
        sentAtEntry: -1,
        idleSince: undefined,
        recorded: false,
        settle: (error) => {
          this.deliveries.delete(delivery);
          if (!this.deliveries.size) this.stopTimer();
          if (error) return reject(error);
          this.remember(ids);
          resolve();
        },
      };
      this.deliveries.add(delivery);
      this.startTimer();
      this.check();
    });
  }

  /** Re-evaluates every delivery; called on pi's message and agent events and by a short timer. */
  check(): void {
    const ctx = this.ctx();
    if (!ctx) return;
    let entries: SessionEntryLike[] | undefined;
    for (const delivery of [...this.deliveries]) {
      if (delivery.sentAtEntry < 0) {
        if (this.deliverAs === "followUp" && !ctx.isIdle()) continue;
        entries ??= this.entries();
        this.send(delivery, entries.length);
        continue;
      }
      entries ??= this.entries();
      this.advance(delivery, ctx, entries);
    }
  }

  /** Which of `ids` this session already holds (recorded by this process or in its history). */
  alreadyDelivered(ids: string[]): Set<string> {
    return new Set(ids.filter((id) => this.recorded.has(id)));
  }

  cancelAll(): void {
    for (const delivery of [...this.deliveries]) delivery.settle(new Error("pi session shut down"));
  }

  private send(delivery: Delivery, entryCount: number): void {
    delivery.sentAtEntry = entryCount;
    // Idle: starts a turn at once. Streaming (steer mode, or a turn that began in between):
    // queued by pi, and recorded when the turn reaches it.
    this.pi.sendMessage(
      { customType: GATEWAY_MESSAGE_TYPE, content: delivery.text, display: true, details: delivery.details },
      { triggerTurn: true, deliverAs: this.deliverAs },
    );
  }

  private advance(delivery: Delivery, ctx: ExtensionContext, entries: SessionEntryLike[]): void {
    if (!delivery.recorded) {
      delivery.recorded = entries.slice(delivery.sentAtEntry).some((e) => gatewayDetails(e)?.batch === delivery.details.batch);
    }
    if (delivery.recorded) {
      if (this.durable(ctx, entries)) delivery.settle();
      return;
    }
    const now = Date.now();
    if (!ctx.isIdle()) {
      delivery.idleSince = undefined;
      return;
    }
    delivery.idleSince ??= now;
    if (now - delivery.idleSince >= this.acceptTimeoutMs) {
      delivery.settle(
        new Error(
          `pi stayed idle for ${this.acceptTimeoutMs}ms without taking the message (its turn was aborted or the prompt refused); handing the batch back`,
        ),
      );
    }
  }

  /** pi writes entries to disk only once the session has an assistant message; in memory only: nothing to wait for. */
  private durable(ctx: ExtensionContext, entries: SessionEntryLike[]): boolean {
    if (!ctx.sessionManager.getSessionFile()) return true;
    return entries.some((e) => e.type === "message" && e.message?.role === "assistant");
  }

  private entries(): SessionEntryLike[] {
    try {
      return (this.ctx()?.sessionManager.getEntries() ?? []) as SessionEntryLike[];
    } catch {
      return []; // stale ctx: the session was replaced; its runtime is being stopped
    }
  }

  private remember(ids: string[]): void {
    for (const id of ids) this.recorded.add(id);
    if (this.recorded.size <= RECORDED_CAP) return;
    // Oldest first (insertion order); a batch that old is long acknowledged or expired.
    for (const id of this.recorded) {
      this.recorded.delete(id);
      if (this.recorded.size <= RECORDED_CAP) break;
    }
  }

  private startTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.check(), CHECK_EVERY_MS);
    this.timer.unref();
  }

  private stopTimer(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** The details of a gateway message entry, or undefined for any other entry. */
export function gatewayDetails(entry: SessionEntryLike): GatewayMessageDetails | undefined {
  if (entry.type !== "custom_message" || entry.customType !== GATEWAY_MESSAGE_TYPE) return undefined;
  return parseGatewayDetails(entry.details);
}

/** The most recently written session file in `dir` other than `current`. */
function previousSessionFile(dir: string, current: string | undefined): string | undefined {
  let best: { path: string; mtime: number } | undefined;
  try {
    for (const name of readdirSync(dir)) {
      if (!name.endsWith(".jsonl")) continue;
      const path = join(dir, name);
      if (path === current) continue;
      const mtime = statSync(path).mtimeMs;
      if (!best || mtime > best.mtime) best = { path, mtime };
    }
  } catch {
    return undefined; // no session directory yet
  }
  return best?.path;
}

/** The id lists of the gateway message entries in a session file (its last line may be cut by a crash). */
function gatewayIdsInFile(path: string): string[][] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return [];
  }
  const out: string[][] = [];
  for (const line of text.split("\n")) {
    if (!line.includes(GATEWAY_MESSAGE_TYPE)) continue;
    try {
      const details = gatewayDetails(JSON.parse(line) as SessionEntryLike);
      if (details) out.push(details.ids);
    } catch {
      // a line cut short by a kill -9 mid-write
    }
  }
  return out;
}
