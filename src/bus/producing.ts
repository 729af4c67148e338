/**
 * Putting events on the bus: one push (push-5.lua does the routing, dedup and backlog cap; on a
 * Redis Cluster its three steps run one by one, each in its slot), and the producer's retry through
 * a Redis outage, always with the same event id.
 */
import { wellFormedJson } from "../util/text.js";
import { setTimeout as sleep } from "node:timers/promises";
import { formatDuration } from "../config/duration.js";
import type { GatewayEvent } from "../protocol/event.js";
import { backoffDelay, type Backoff } from "../util/backoff.js";
import { redisUnreachable } from "./connection.js";
import { GatewayError, NotAcknowledgedError, type RedisUnreachableError } from "./errors.js";
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
  const reply = k.cluster
    ? await pushInSlots(ctx, event, raw, target, origin, options.exclusive === true)
    : ((await ctx.scripts.push(
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
      )) as unknown[]);
  const [status, queued = [], undrained = []] = reply as [string, string[]?, string[]?];
  if (status === "unknown-target") {
    const known = (await sessions(ctx)).map((s) => s.id);
    throw new GatewayError(`unknown session "${target}" (registered: ${known.length ? known.join(", ") : "none"})`, "UNKNOWN_SESSION");
  }
  return { status: status === "duplicate" ? "duplicate" : "pushed", sessions: queued, undrained, event, attempts: 1 };
}

/**
 * push-5.lua's steps on a Redis Cluster (docs/cluster.md §3): route in the global slot (dedup; the
 * targets, recorded while the fan-out is in progress), enqueue in each target's slot (idempotent per
 * queue), routed in the global slot (the id counts as pushed). A producer that dies between steps is
 * retried with the same id: the route step returns the targets it recorded, the enqueue step skips the
 * queues that already have the event, so no target is lost and none gets it twice. `steps` (tests):
 * run only that many steps, as a producer stopped there would.
 */
export async function pushInSlots(
  ctx: BusContext,
  event: GatewayEvent,
  raw: string,
  target: string,
  origin: string,
  exclusive: boolean,
  steps = Infinity,
): Promise<unknown[]> {
  const { keys: k, options: o } = ctx;
  const route = (await ctx.scripts["push-route"](
    [k.sessions, k.presence, k.pushed, k.journal, k.counters, k.routes, k.fanout(event.id)],
    [k.prefix, event.id, event.type, target, origin, o.legacySession, o.dedupWindowMs, o.journalCap, event.source, exclusive ? "1" : "0", "routes"],
  )) as [string, string[]?, string[]?];
  const targets = route[1] ?? [];
  if (route[0] !== "ok" || steps <= 1) return route;
  const enqueue = (sid: string) =>
    ctx.scripts["push-enqueue"](
      [k.events(sid), k.deadLettersOf(sid), k.journalOf(sid), k.enqueued(sid)],
      [event.id, raw, event.type, sid, o.backlogCap, o.deadLetterCap, o.journalCap, o.dedupWindowMs, o.dedupMax, "1", k.notify(sid)],
    );
  await Promise.all(targets.slice(0, steps - 1).map(enqueue));
  if (steps <= targets.length + 1) return route;
  await ctx.scripts["push-routed"](
    [k.pushed, k.journal, k.counters, k.fanout(event.id)],
    [event.id, raw, event.type, event.source, targets.join(","), o.journalCap, o.dedupMax],
  );
  return route;
}

/**
 * Pushes with retries while Redis is unreachable, or (on a cluster) while no replica confirms the
 * push (NotAcknowledgedError), always with the same event id: a retry of a push that did land is
 * recognised by the push script and not delivered twice. `onWait` is told when the first attempt
 * fails for want of Redis.
 */
export async function pushWithRetry(
  ctx: BusContext,
  event: GatewayEvent,
  options: PushOptions,
  retryMs: number,
  onWait?: (error: RedisUnreachableError | NotAcknowledgedError) => void,
): Promise<PushResult> {
  const deadline = Date.now() + retryMs;
  const url = ctx.options.redisUrl;
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await push(ctx, event, options);
      return { ...result, attempts: attempt };
    } catch (error) {
      if (error instanceof NotAcknowledgedError) {
        // The primary may well hold the event: "not pushed" would invite a second push under a new id.
        if (Date.now() >= deadline) {
          throw error.withNote(
            `retried for ${formatDuration(retryMs)}; event ${event.id} may be queued on the primary only, and a push with the same id delivers it once`,
          );
        }
        if (attempt === 1) onWait?.(error);
        await sleep(retryPauseMs(attempt));
        continue;
      }
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
  // "Command aborted due to connection close": a cluster client's node connection died under a
  // pending command (kill -9 of a primary); the command may or may not have run, as with a reset.
  return /Connection is closed|Stream isn't writeable|connect ETIMEDOUT|LOADING|Command aborted due to connection close/.test(error.message);
}

/** A producer's retry pauses: 250 ms, doubling, at most 2 s, each ±20 % so producers do not retry in step. */
const PRODUCER_RETRY_BACKOFF: Backoff = { baseMs: 250, capMs: 2_000, jitter: 0.2 };

/** The pause before attempt `attempt + 1` of a producer's connect or push. */
export function retryPauseMs(attempt: number): number {
  return backoffDelay(attempt, PRODUCER_RETRY_BACKOFF);
}
