/**
 * What the daemon does with a turn that did not end normally: which failures are worth retrying,
 * how long to wait before the next attempt, and the one line the agent reads first when it is
 * shown a request again (replayed after a restart, or retried after a failure), so it checks what
 * it already did instead of acting twice blindly.
 */
import type { QueuedCommand } from "./command-queue.js";

/** The longest wait between two attempts, however many there were. */
export const RETRY_BACKOFF_CAP_MS = 5 * 60_000;

/** Throttling: always worth waiting for (checked before the overflow test, whose words overlap). */
const THROTTLED = /rate.?limit|too many requests|\b429\b|overloaded/i;
/** The conversation no longer fits the model: the same request would fail again. */
const CONTEXT_OVERFLOW = /context.?(?:length|window)|maximum context|prompt is too long|too many tokens|exceeds? the (?:context|maximum)/i;
/** The provider could not be reached or had a bad moment (network, 5xx, timeouts). */
const UNREACHABLE =
  /\b(?:408|5\d\d)\b|service.?unavailable|bad gateway|gateway time-?out|server.?error|internal.?error|network.?error|connection.?(?:error|refused|reset|lost|closed)|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|EPIPE|socket hang up|other side closed|fetch failed|upstream.?connect|ended without|terminated|timed? ?out|timeout/i;

/**
 * Is this turn failure transient? Provider SDKs start their message with the HTTP status ("503 ...",
 * "400 ..."): 408, 409, 429 and 5xx are, other 4xx (bad request, bad key, unknown model) are not.
 * Without a status the words decide; anything unrecognised counts as permanent, so it is
 * dead-lettered with its reason rather than retried for minutes to no purpose.
 */
export function isTransientFailure(message: string): boolean {
  if (THROTTLED.test(message)) return true;
  if (CONTEXT_OVERFLOW.test(message)) return false;
  const status = /^\s*(\d{3})\b/.exec(message)?.[1];
  if (status !== undefined) {
    const code = Number(status);
    return code === 408 || code === 409 || code >= 500;
  }
  return UNREACHABLE.test(message);
}

/** Did the provider refuse the request as longer than the model's context window? */
export function isContextOverflowError(message: string): boolean {
  return !THROTTLED.test(message) && CONTEXT_OVERFLOW.test(message);
}

/** An error as one short line, for dead letters, the journal and replies. */
export function oneLine(text: string, max = 500): string {
  const flat = text.replace(/\s+/g, " ").trim() || "unknown error";
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/**
 * The text the agent gets for a command. A request it was already shown starts with one line that
 * says so: after a restart interrupted its turn (the turn may have done part of the work), or after
 * a failed attempt (whatever that attempt did is in the conversation above).
 */
export function promptText(command: Pick<QueuedCommand, "message" | "attempts" | "lastError" | "interruptedAt">): string {
  const { message, interruptedAt, attempts, lastError } = command;
  if (interruptedAt !== undefined) {
    const at = new Date(interruptedAt).toISOString();
    return [
      `⚠️ The gateway restarted while you were working on the request below (shown to you at ${at}); that turn was interrupted and its reply never reached the asker.`,
      "Check what was already done before doing anything again, then answer it once.",
      "",
      quote(message.text),
    ].join("\n");
  }
  if (attempts > 0) {
    const why = lastError ? ` (${oneLine(lastError, 200)})` : "";
    return `⚠️ Retry ${attempts} of this request: the previous attempt failed${why}; check what was already done before acting again.\n\n${message.text}`;
  }
  return message.text;
}

/** The request as a Markdown quote: clearly the original words, not a new instruction line by line. */
function quote(text: string): string {
  return text
    .split("\n")
    .map((line) => (line ? `> ${line}` : ">"))
    .join("\n");
}
