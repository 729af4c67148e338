/**
 * Flood control for every call on the bot's API, declared once (grammY plugins), for polling and
 * replies alike: messages to one chat are spaced to Telegram's limits (transformer-throttler), and
 * a 429 waits its retry_after before the call is repeated, a 5xx backs off (auto-retry).
 */
import { autoRetry } from "@grammyjs/auto-retry";
import { apiThrottler, type APIThrottlerOptions } from "@grammyjs/transformer-throttler";
import type { Api, Transformer } from "grammy";

/**
 * A 429 or 5xx is retried this many times (then the caller sees it). A flood wait longer than a
 * minute is not waited out inside a call: the caller sees it at once. Network errors are never
 * retried by the plugin (it would retry them forever, with waits growing to an hour): the polling
 * loop backs off by itself, and a reply that cannot reach Telegram is logged as not sent.
 */
const FLOOD_RETRY = { maxRetryAttempts: 3, maxDelaySeconds: 60, rethrowHttpErrors: true } as const;

/**
 * Methods with a chat_id that the per-chat pacing leaves alone. Telegram's limits are on messages
 * (about one a second per chat, 20 a minute per group); a typing indicator is not one. Paced, it took
 * the chat's slot: a reply's first message waited a second behind its own typing indicator, and the
 * next turn's typing a second behind the last reply. Calls without a chat_id (getUpdates, getMe,
 * getFile, setMyCommands) are never paced by the throttler.
 */
const UNPACED_METHODS: ReadonlySet<string> = new Set(["sendChatAction"]);

/** transformer-throttler for the calls that put a message in a chat, and only those. */
function pacedMessages(options: APIThrottlerOptions | undefined): Transformer {
  const throttle = apiThrottler(options);
  return (prev, method, payload, signal) => (UNPACED_METHODS.has(method) ? prev(method, payload, signal) : throttle(prev, method, payload, signal));
}

/** Installs the pacing and the retries on `api` (`throttle`: per-chat and global limits, default Telegram's). */
export function installFloodControl(api: Api, throttle: APIThrottlerOptions | undefined): void {
  // Installed in this order, auto-retry wraps the throttler: every repeated call is paced again.
  api.config.use(pacedMessages(throttle));
  api.config.use(autoRetry(FLOOD_RETRY));
}
