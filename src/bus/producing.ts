/**
 * Putting events on the bus: one push (push-5.lua does the routing, dedup and backlog cap), and
 * the producer's retry through a Redis outage, always with the same event id.
 */
import { wellFormedJson } from "../util/text.js";
import { setTimeout as sleep } from "node:timers/promises";
import { formatDuration } from "../config/duration.js";
import type { GatewayEvent } from "../protocol/event.js";
import { backoffDelay, type Backoff } from "../util/backoff.js";
import { redisUnreachable } from "./connection.js";
import { GatewayError, type RedisUnreachableError } from "./errors.js";
import { sessions } from "./sessions.js";
import type { BusContext, PushOptions, PushResult } from "./types.js";

/** Pushes one event once (no retry). Throws GatewayError UNKNOWN_SESSION for an unknown target. */
export async function push(ctx: BusContext, event: GatewayEvent, options: PushOptions = {}): Promise<PushResult> {
  const { keys: k, options: o } = ctx;
  const target = options.target ?? event.target ?? "";
  const origin = options.originSession ?? event.originSession ?? "";
  // A lone UTF-16 surrogate (a string cut inside an emoji) serialises as "\ud83d", which Redis's
  // JSON decoder refuses: the event would be dead-lettered after "pushed". Make strings well formed.
  const raw = wellFormedJson(event);
  if (Buffer.byteLength(raw) > o.maxEventBytes) {
    throw new GatewayError(`event is ${Buffer.byteLength(raw)} bytes, over the ${o.maxEventBytes}-byte limit (GATEWAY_MAX_EVENT_BYTES)`, "EVENT_TOO_LARGE");
  }
  const reply = (await ctx.scripts.push(
    [k.sessions, k.presence, k.pushed, k.deadLetters, k.journal],
    [
      k.prefix,
      event.id,
      raw,
      event.type,
      target,
      origin,
      o.legacySession,
      o.backlogCap,
      o.dedupWindowMs,
      o.journalCap,
      o.deadLetterCap,
      event.source,
      o.dedupMax,
      options.exclusive ? "1" : "0",
    ],
  )) as unknown[];
  const [status, queued = [], undrained = []] = reply as [string, string[]?, string[]?];
  if (status === "unknown-target") {
    const known = (await sessions(ctx)).map((s) => s.id);
    throw new GatewayError(`unknown session "${target}" (registered: ${known.length ? known.join(", ") : "none"})`, "UNKNOWN_SESSION");
  }
  return { status: status === "duplicate" ? "duplicate" : "pushed", sessions: queued, undrained, event, attempts: 1 };
}

/**
 * Pushes with retries while Redis is unreachable, always with the same event id: a retry of a
 * push that did land is recognised by the push script and not delivered twice. `onWait` is told
 * when the first attempt fails for want of Redis.
 */
export async function pushWithRetry(
  ctx: BusContext,
  event: GatewayEvent,
  options: PushOptions,
  retryMs: number,
  onWait?: (error: RedisUnreachableError) => void,
): Promise<PushResult> {
  const deadline = Date.now() + retryMs;
  const url = ctx.options.redisUrl;
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await push(ctx, event, options);
      return { ...result, attempts: attempt };
    } catch (error) {
      if (error instanceof GatewayError || !isConnectionError(error) || Date.now() >= deadline) {
        if (isConnectionError(error)) {
          throw redisUnreachable(url, error as Error).withNote(`retried for ${formatDuration(retryMs)}, event ${event.id} not pushed`);
        }
        throw error;
      }
      if (attempt === 1) onWait?.(redisUnreachable(url, error as Error));
      await sleep(retryPauseMs(attempt));
    }
  }
}

/** Errors that mean "Redis was not reachable", as opposed to a refused command. */
export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === "MaxRetriesPerRequestError") return true;
  const code = (error as NodeJS.ErrnoException).code ?? "";
  if (["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EHOSTUNREACH"].includes(code)) return true;
  return /Connection is closed|Stream isn't writeable|connect ETIMEDOUT|LOADING/.test(error.message);
}

/** A producer's retry pauses: 250 ms, doubling, at most 2 s, each ±20 % so producers do not retry in step. */
const PRODUCER_RETRY_BACKOFF: Backoff = { baseMs: 250, capMs: 2_000, jitter: 0.2 };

/** The pause before attempt `attempt + 1` of a producer's connect or push. */
export function retryPauseMs(attempt: number): number {
  return backoffDelay(attempt, PRODUCER_RETRY_BACKOFF);
}
