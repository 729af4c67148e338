/**
 * Injects event batches into the running pi session and reports when pi has accepted one.
 *
 * `pi.sendUserMessage` returns nothing, so acceptance is observed: the message either starts a turn
 * (a `message_start` of that user message) or, while the agent streams, is queued as follow-up or
 * steer (pi then reports pending messages). Only then is the batch acknowledged in Redis; a batch
 * that was not accepted in time is handed back and retried.
 *
 * The ids of what was accepted are remembered, and pi's own session history is searched for them,
 * so a batch handed out again after a crash (or after a slow acceptance) is not injected twice.
 */
import type { ExtensionAPI, ExtensionContext } from "@mariozechner/pi-coding-agent";
import { eventIdsIn } from "../agent/event-prompt.js";
import { textOf } from "../agent/message-text.js";
import type { DeliverAs } from "../config/session-options.js";

interface Waiter {
  text: string;
  inputSeen: boolean;
  done: (error?: Error) => void;
}

export class PiInjector {
  private readonly waiters = new Set<Waiter>();
  private readonly accepted = new Set<string>();

  constructor(
    private readonly pi: ExtensionAPI,
    private readonly ctx: () => ExtensionContext | undefined,
    private readonly deliverAs: DeliverAs,
    private readonly acceptTimeoutMs: number,
  ) {}

  /** Sends `text` as a user message and resolves once pi has taken it in. */
  inject(text: string, ids: string[] = []): Promise<void> {
    const ctx = this.ctx();
    if (!ctx) return Promise.reject(new Error("pi session is not running"));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => waiter.done(new Error(`pi did not accept the message within ${this.acceptTimeoutMs}ms`)), this.acceptTimeoutMs);
      const waiter: Waiter = {
        text,
        inputSeen: false,
        done: (error) => {
          clearTimeout(timer);
          clearInterval(poll);
          this.waiters.delete(waiter);
          if (error) return reject(error);
          for (const id of ids) this.accepted.add(id);
          resolve();
        },
      };
      // Queued while streaming: no event says so, but pi reports pending messages.
      const poll = setInterval(() => {
        const current = this.ctx();
        if (waiter.inputSeen && current && !current.isIdle() && current.hasPendingMessages()) waiter.done();
      }, 10);
      this.waiters.add(waiter);
      // Always pass deliverAs: if the agent starts streaming between a check and this call, the
      // message is queued instead of being refused.
      this.pi.sendUserMessage(text, { deliverAs: this.deliverAs });
    });
  }

  /** pi's `input` event: our text reached pi's prompt pipeline. */
  onInput(text: string): void {
    for (const waiter of this.waiters) if (waiter.text === text) waiter.inputSeen = true;
  }

  /** pi's `message_start` for a user message: our text started (or joined) a turn. */
  onUserMessage(text: string): void {
    for (const waiter of [...this.waiters]) if (waiter.text === text) waiter.done();
  }

  /** Which of `ids` pi already has: accepted by this process, or present in the session history. */
  alreadyDelivered(ids: string[]): Set<string> {
    const have = new Set(ids.filter((id) => this.accepted.has(id)));
    if (have.size === ids.length) return have;
    const wanted = new Set(ids);
    const entries = this.ctx()?.sessionManager.getBranch() ?? [];
    for (const entry of entries.slice(-500)) {
      if (entry.type !== "message" || entry.message.role !== "user") continue;
      for (const id of eventIdsIn(textOf(entry.message.content))) if (wanted.has(id)) have.add(id);
    }
    return have;
  }

  cancelAll(): void {
    for (const waiter of [...this.waiters]) waiter.done(new Error("pi session shut down"));
  }
}
