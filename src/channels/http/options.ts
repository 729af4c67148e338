/** Options and shared types of the daemon's HTTP app (app.ts wires the routes in routes/). */
import type { GatewayBus } from "../../bus/bus.js";
import type { CommandSink } from "../../daemon/types.js";
import type { Logger } from "../../util/logger.js";

export interface HookConfig {
  /** HMAC secret: the sender signs the raw body (`X-Hub-Signature-256: sha256=<hex>`). */
  secret?: string;
  /** Bearer token accepted for this hook only (the gateway token is accepted too). */
  token?: string;
  /** Event type of what the hook pushes (default `webhook.<name>`). */
  eventType?: string;
}

/** `ready()` may explain itself: `{ready: false, reason: "redis not connected"}`. */
export type Readiness = boolean | { ready: boolean; reason?: string };

export interface HttpAppOptions {
  /** Used to queue events directly when no bus is configured (the event is rendered as a prompt). */
  commands?: CommandSink;
  /** Where POST /events and webhooks push (fan-out and dedup apply); also serves /api/journal. */
  bus?: GatewayBus;
  /** The gateway token: POST /events and /api/* need it; without it they are disabled (503). */
  token?: string;
  hooks?: Record<string, HookConfig>;
  /** GET /api/status (default: bus.status()). */
  status?: () => Promise<unknown>;
  /** GET /metrics: Prometheus text (disabled, 503, without it). */
  metrics?: () => Promise<string>;
  /** GET /api/history: a page of the conversation (`undefined` when `before` names no item). */
  history?: (limit: number, before?: string) => { items: unknown[]; more: boolean } | undefined;
  /** GET /readyz (default: the bus client is connected, or true without a bus). */
  ready?: () => Promise<Readiness>;
  /** Webhook requests read at once before their signature is checked (default 8); more get 503. */
  hookConcurrency?: number;
  /** Largest request body accepted (default 1 MiB); bigger ones get 413. */
  maxBodyBytes?: number;
  logger?: Logger;
}

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
export const DEFAULT_HOOK_CONCURRENCY = 8;
