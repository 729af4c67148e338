/**
 * A background duty that only the owner of the central session id performs (firing schedules,
 * delivering notifications): a loop that runs `step` while `isOwner()` holds, sleeps for as long as
 * the step asks (capped), and lives through Redis outages: a failed step is logged once and retried
 * with a growing pause, never a busy loop and never a crash.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "../util/logger.js";

export interface OwnerLoopOptions {
  name: string;
  /** True while this process may do the duty (it holds the central id's lease). */
  isOwner: () => boolean;
  /** One round; resolves with how long (ms) the loop may sleep before the next. */
  step: () => Promise<number>;
  /** Longest sleep, also how often a non-owner looks again. */
  maxWaitMs: number;
  logger: Logger;
}

/** Pause after failed rounds: 1 s, 2 s, ... at most 10 s. */
const failurePauseMs = (failures: number) => Math.min(1_000 * failures, 10_000);

export class OwnerLoop {
  private readonly stopper = new AbortController();
  private running: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;

  constructor(private readonly options: OwnerLoopOptions) {}

  start(): this {
    this.running ??= this.run();
    return this;
  }

  /** Ends the loop after the round in progress. */
  async stop(): Promise<void> {
    this.stopper.abort();
    this.wakeUp?.();
    await this.running;
  }

  /** Cuts the current sleep short (something new to do). */
  wake(): void {
    this.wakeUp?.();
  }

  private async run(): Promise<void> {
    const { options } = this;
    let failures = 0;
    while (!this.stopper.signal.aborted) {
      let waitMs = options.maxWaitMs;
      if (options.isOwner()) {
        try {
          waitMs = Math.max(0, Math.min(await options.step(), options.maxWaitMs));
          if (failures) options.logger.info({ duty: options.name }, "background duty works again");
          failures = 0;
        } catch (error) {
          failures++;
          if (failures === 1) options.logger.warn({ duty: options.name, err: (error as Error).message }, "background duty failed; retrying");
          waitMs = failurePauseMs(failures);
        }
      }
      await this.pause(waitMs);
    }
  }

  private async pause(ms: number): Promise<void> {
    const woken = new Promise<void>((resolve) => (this.wakeUp = resolve));
    await Promise.race([sleep(ms, undefined, { signal: this.stopper.signal, ref: false }).catch(() => undefined), woken]);
    this.wakeUp = undefined;
  }
}
