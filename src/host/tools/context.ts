/**
 * What every gateway tool shares: the context it runs in (the bus of the running gateway, this
 * session's id), the bounded wait for Redis, and the one way a tool fails. A tool's `run` throws a
 * ToolFailure with one line for the agent; the pi adapter (pi-tool.ts) turns any failure into that
 * line, so nothing else (a stack trace, a raw Redis client error) reaches the model.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { GatewayBus } from "../../bus/bus.js";
import { GatewayError } from "../../bus/errors.js";
import type { Logger } from "../../util/logger.js";

export interface GatewayToolContext {
  /** The running gateway's bus; undefined while it is not running in this process (disabled, not started, not connected yet). */
  bus(): GatewayBus | undefined;
  /** True while the gateway runs but waits for Redis to answer before its bus exists (the extension). */
  connecting?(): boolean;
  /** This session's id; undefined until it is decided (an automatic role decides once Redis answers). */
  sessionId(): string | undefined;
  logger(): Logger;
  /** Longest a tool waits for Redis, connecting included (default TOOL_REDIS_TIMEOUT_MS). */
  timeoutMs?: number;
}

/** A tool call never holds the agent's turn longer than this waiting for Redis. */
export const TOOL_REDIS_TIMEOUT_MS = 3_000;
const READY_POLL_MS = 50;

/** A failure meant for the agent: one line saying what went wrong and, where it helps, what to do. */
export class ToolFailure extends Error {
  override name = "ToolFailure";
}

/** What a tool gives back: the text the model reads and the structured details (UI, logs, tests). */
export interface ToolReply<D> {
  text: string;
  details: D;
}

/**
 * Runs `fn` with the bus and this session's id, bounded in time: waits for a connection at most
 * the timeout (no command is queued while Redis is down), then for the answer at most what is left.
 * A GatewayError (unknown session, oversized event...) becomes a ToolFailure with its message.
 */
export async function withGateway<T>(ctx: GatewayToolContext, what: string, fn: (bus: GatewayBus, sessionId: string) => Promise<T>): Promise<T> {
  const timeoutMs = ctx.timeoutMs ?? TOOL_REDIS_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  let bus = ctx.bus();
  while (!bus?.isReady) {
    if (!bus && !ctx.connecting?.()) {
      throw new ToolFailure("the gateway is not running in this session (GATEWAY_DISABLED=1, or it failed to start: /gateway says why)");
    }
    if (Date.now() >= deadline) {
      // No bus yet: the extension has not reached Redis once since the session started (it keeps trying).
      const state = bus ? `connection ${bus.connectionState} for ${timeoutMs} ms` : `not reached since the session started; waited ${timeoutMs} ms`;
      throw new ToolFailure(`Redis is unreachable (${state}): could not ${what}; nothing was done, try again later`);
    }
    await sleep(READY_POLL_MS);
    bus = ctx.bus();
  }
  const sessionId = ctx.sessionId();
  if (!sessionId) throw new ToolFailure("the gateway has not decided this session's id yet (Redis has not answered since pi started); try again shortly");
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new ToolFailure(`Redis did not answer within ${timeoutMs} ms: could not ${what} (it may still happen once Redis answers)`)),
      Math.max(deadline - Date.now(), 1),
    );
  });
  try {
    return await Promise.race([fn(bus, sessionId), timeout]);
  } catch (error) {
    if (error instanceof ToolFailure) throw error;
    if (error instanceof GatewayError) throw new ToolFailure(error.message);
    throw new ToolFailure(`could not ${what}: ${(error as Error).message ?? String(error)}`);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs a check that throws an Error with a one-line message (schedule-spec, notifications) as a ToolFailure. */
export function checked<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw new ToolFailure((error as Error).message);
  }
}
