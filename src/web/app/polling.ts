/** The status and journal polling loops; stopped for good when the token is refused. */
import { AuthError } from "./auth.js";
import { pollJournal } from "./journal.js";
import { pollPairing } from "./pairing.js";
import { pollStatus } from "./status.js";
import { STATUS_EVERY_MS } from "./ticker.js";

const JOURNAL_EVERY_MS = 2_000;
const PAIRING_EVERY_MS = 5_000;

/** Bumped to end the running loops (each checks it before its next round). */
let generation = 0;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function loop(poll: () => Promise<void>, everyMs: number, mine: number): Promise<void> {
  while (mine === generation) {
    try {
      await poll();
    } catch (error) {
      if (error instanceof AuthError) return;
    }
    await sleep(everyMs);
  }
}

export function startPolling(): void {
  const mine = ++generation;
  void loop(pollStatus, STATUS_EVERY_MS, mine);
  void loop(pollJournal, JOURNAL_EVERY_MS, mine);
  void loop(pollPairing, PAIRING_EVERY_MS, mine);
}

export function stopPolling(): void {
  generation += 1;
}
