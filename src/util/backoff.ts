/**
 * The one backoff rule of the gateway: capped exponential, optionally jittered. Redis reconnects,
 * a producer's connect and push retries, turn retries and Telegram's polling all wait by it, so a
 * change to how the gateway backs off is made once, here.
 */

export interface Backoff {
  /** The wait before the first retry; each later one doubles it... */
  baseMs: number;
  /** ...up to this, however many attempts there were. */
  capMs: number;
  /**
   * Spread each wait by ± this fraction (0.25: 75 % to 125 %), so many clients that lost the same
   * server do not all come back in the same millisecond. The cap still holds. Default 0 (none).
   */
  jitter?: number;
}

/**
 * The wait before retry number `attempt` (1 = the first): `baseMs`, doubling, at most `capMs`, then
 * jittered. An attempt below 1 or not a number counts as the first; a huge one gives the cap.
 */
export function backoffDelay(attempt: number, backoff: Backoff, random: () => number = Math.random): number {
  const { baseMs, capMs } = backoff;
  const jitter = Math.min(1, Math.max(0, backoff.jitter ?? 0));
  const retry = Number.isNaN(attempt) ? 1 : Math.max(1, Math.floor(attempt));
  // 2 ** 1023 is the last finite power: past it the product is Infinity, which the cap absorbs anyway.
  const exponential = Math.min(capMs, baseMs * 2 ** Math.min(retry - 1, 1023));
  const spread = jitter === 0 ? exponential : exponential * (1 - jitter + random() * 2 * jitter);
  return Math.round(Math.min(capMs, Math.max(0, spread)));
}
