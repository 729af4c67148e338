/**
 * A shutdown that ends within its grace whatever Redis does. Every step that may wait (a Redis
 * write while Redis is gone, a turn, a channel that hangs) gets what is left of one deadline; a
 * step that does not finish in time is abandoned and named, so the daemon can say what it left
 * behind. Nothing is lost by that: unacknowledged events and unfinished commands stay in Redis and
 * are replayed by the next start.
 */
import { setTimeout as sleep } from "node:timers/promises";

export class ShutdownBudget {
  private readonly deadline: number;
  /** Steps that did not finish in time, in order. */
  readonly abandoned: string[] = [];
  /** Steps that ended in an error (Redis gone, a channel failing), with the error's message. */
  readonly failed: Array<{ step: string; error: string }> = [];

  constructor(graceMs: number, now = Date.now()) {
    this.deadline = now + graceMs;
  }

  /** Milliseconds left of the grace. */
  get leftMs(): number {
    return Math.max(0, this.deadline - Date.now());
  }

  /**
   * Waits for `work` at most what is left (minus `reserveMs`, kept for the steps after it); true when
   * it finished. A step that fails counts as finished (shutdown goes on) and is kept in `failed`:
   * what it was to write is still to do, which the daemon says like an abandoned step.
   */
  async step(name: string, work: Promise<unknown> | undefined, reserveMs = 0): Promise<boolean> {
    if (!work) return true;
    const guarded = work.then(
      () => true,
      (error: unknown) => {
        this.failed.push({ step: name, error: error instanceof Error ? error.message : String(error) });
        return true;
      },
    );
    const timer = new AbortController();
    const finished = await Promise.race([guarded, sleep(Math.max(0, this.leftMs - reserveMs), false, { signal: timer.signal }).catch(() => false)]);
    timer.abort();
    if (!finished) this.abandoned.push(name);
    return finished;
  }
}
