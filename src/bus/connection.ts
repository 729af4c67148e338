/**
 * Redis connections. Every long-lived component uses two clients, as Redis requires: a subscribed
 * client can do nothing but pub/sub, so commands go through a second one.
 *
 * Long-lived clients ("persistent") queue commands while Redis is down and retry them forever,
 * reconnecting with capped exponential backoff: a consumer simply resumes after an outage. One-shot
 * clients (the CLI) fail fast with a clear message instead.
 */
import { readFileSync } from "node:fs";
import { rootCertificates } from "node:tls";
import { Redis } from "ioredis";
import { GatewayError } from "./errors.js";

export interface ClientOptions {
  /** Shown in CLIENT LIST, helps when debugging a shared Redis. */
  name: string;
  /** Keep retrying commands through outages (true) or fail them after a few tries (false). */
  persistent: boolean;
  connectTimeoutMs: number;
  /** PEM file of a CA to trust for rediss:// (besides the system's). */
  caFile?: string;
}

/** Capped exponential backoff with jitter: 100ms, 200ms, ... up to 3s between reconnect attempts. */
export function reconnectDelay(attempt: number): number {
  const base = Math.min(100 * 2 ** Math.min(attempt - 1, 5), 3_000);
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

export function createClient(url: string, options: ClientOptions): Redis {
  const client = new Redis(url, {
    connectionName: options.name,
    lazyConnect: true,
    connectTimeout: options.connectTimeoutMs,
    maxRetriesPerRequest: options.persistent ? null : 1,
    retryStrategy: reconnectDelay,
    // A failover leaves us talking to a replica: reconnect and resend instead of failing writes.
    reconnectOnError: (error) => (error.message.startsWith("READONLY") ? 2 : false),
    ...(options.caFile && url.startsWith("rediss:") ? { tls: { ca: [...rootCertificates, readFileSync(options.caFile, "utf8")] } } : {}),
  });
  // Errors surface through connection state and failed commands; an unhandled 'error' event
  // would otherwise crash the host process (pi itself, for the extension).
  client.on("error", () => undefined);
  return client;
}

/** Connects and waits until the client is ready, or fails with the last connection error. */
export async function connectClient(client: Redis, url: string, timeoutMs: number): Promise<void> {
  if (client.status === "ready") return;
  let lastError: Error | undefined;
  const onError = (error: Error) => {
    lastError = error;
  };
  client.on("error", onError);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(unreachable(url, lastError));
      }, timeoutMs);
      const onReady = () => {
        cleanup();
        resolve();
      };
      const onEnd = () => {
        cleanup();
        reject(unreachable(url, lastError));
      };
      const cleanup = () => {
        clearTimeout(timer);
        client.off("ready", onReady);
        client.off("end", onEnd);
      };
      client.once("ready", onReady);
      client.once("end", onEnd);
      if (client.status === "wait" || client.status === "end") client.connect().catch((error: Error) => (lastError = error));
    });
  } finally {
    client.off("error", onError);
  }
}

function unreachable(url: string, cause: Error | undefined): GatewayError {
  const reason = cause ? cause.message : "no answer";
  return new GatewayError(`Redis unreachable at ${redactUrl(url)}: ${reason}`, "REDIS_UNREACHABLE");
}

/** The URL without its password, for messages and logs (masked even when the URL does not parse). */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString().replace(/\/$/, "");
  } catch {
    return url.replace(/:\/\/([^/@\s]*):[^/@\s]+@/, "://$1:***@");
  }
}
