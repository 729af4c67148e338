/**
 * Flood control for every call to the Bot API, declared once (grammY plugins), for polling and
 * replies alike: messages to one chat are spaced to Telegram's limits (transformer-throttler), and
 * a 429 waits its retry_after before the call is repeated, a 5xx backs off (auto-retry).
 * Two APIs share one pacing but not one retry budget: what the user must get (the final reply,
 * an error, files, notifications) is retried longer than what the next call supersedes anyway.
 */
import { autoRetry } from "@grammyjs/auto-retry";
import { apiThrottler, type APIThrottlerOptions } from "@grammyjs/transformer-throttler";
import { Api, type Transformer } from "grammy";

/**
 * Polling, typing and previews: a 429 or 5xx is retried this many times, then the caller sees it
 * (the polling loop backs off by itself; a lost preview is replaced by the next one or the final
 * text). A flood wait longer than a minute is not waited out inside a call: the caller sees it at
 * once. Network errors are never retried by the plugin (it would retry them forever, with waits
 * growing to an hour): the polling loop backs off by itself, and a reply that cannot reach
 * Telegram is logged as not delivered.
 */
const FLOOD_RETRY = { maxRetryAttempts: 3, maxDelaySeconds: 60, rethrowHttpErrors: true } as const;

/**
 * The final reply, errors, files and notifications: nothing sends them again, so they get more
 * tries. 5xx waits double from 3 s (the plugin's): the 7th try is 189 s after the first, so a
 * reply rides out about three minutes of 5xx. With three retries (21 s), four failures in a row
 * lost a reply that is a single sendMessage (an instant answer, see replies.ts).
 */
const DELIVERY_RETRY = { maxRetryAttempts: 6, maxDelaySeconds: 60, rethrowHttpErrors: true } as const;

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

/**
 * Installs the pacing and the retries on `api` (`throttle`: per-chat and global limits, default
 * Telegram's) and returns the API for deliveries: the same bot and the same pacing (one per-chat
 * queue for both), the longer retry budget.
 */
export function installFloodControl(api: Api, throttle: APIThrottlerOptions | undefined): Api {
  const paced = pacedMessages(throttle);
  const deliveries = new Api(api.token, api.options);
  // Installed in this order, auto-retry wraps the throttler: every repeated call is paced again.
  api.config.use(paced);
  api.config.use(autoRetry(FLOOD_RETRY));
  deliveries.config.use(paced);
  deliveries.config.use(autoRetry(DELIVERY_RETRY));
  return deliveries;
}
