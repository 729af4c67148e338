/**
 * Heartbeat from a (self-hosted) Inngest: a cron-triggered function whose one step pushes
 * `cron.heartbeat` through GatewayBus, plus a Hono app that serves it to Inngest.
 *
 * Inngest v4 differs from the v3 code in the original design:
 * - `createFunction(options, handler)`: the triggers go inside the options (`triggers`), the v3
 *   three-argument form `createFunction(options, trigger, handler)` is gone;
 * - the serve option `serveHost` is now `serveOrigin`. An unknown `serveHost` is silently ignored
 *   at run time, so the seed's Docker fix would quietly stop working; createInngestApp accepts the
 *   seed's name and passes it on as `serveOrigin`.
 */
import type { AddressInfo } from "node:net";
import { hostname } from "node:os";
import { serve as listen, type ServerType } from "@hono/node-server";
import { Hono } from "hono";
import type { Inngest, InngestFunction } from "inngest";
import { serve } from "inngest/hono";
import { GatewayBus } from "../bus/bus.js";
import { createEvent, HEARTBEAT_EVENT_TYPE, type GatewayEvent } from "../protocol/event.js";

export const HEARTBEAT_FUNCTION_ID = "pi-gateway-heartbeat";
export const DEFAULT_INNGEST_CRON = "*/15 * * * *";
export const INNGEST_SERVE_PATH = "/api/inngest";

/** What the push step returns (and so what the Inngest run shows as the step output). */
export interface HeartbeatPushResult {
  id: string;
  status: "pushed" | "duplicate";
  sessions: string[];
}

export type HeartbeatPush = (event: GatewayEvent) => Promise<{ status: "pushed" | "duplicate"; sessions: string[] }>;

export interface HeartbeatFunctionOptions {
  /** Inngest cron trigger; default every 15 minutes. */
  cron?: string;
  /** Redis for the default push (else $REDIS_URL, else the local default). */
  redisUrl?: string;
  prefix?: string;
  source?: string;
  /** Replaces the default push (connect a GatewayBus, push, close). */
  push?: HeartbeatPush;
}

export function createHeartbeatFunction(inngest: Inngest, options: HeartbeatFunctionOptions = {}): InngestFunction.Any {
  const cron = options.cron ?? DEFAULT_INNGEST_CRON;
  const source = options.source ?? "inngest";
  const push = options.push ?? busPush(options);
  return inngest.createFunction(
    // One heartbeat at a time: a run stuck on an unreachable Redis is not joined by the next one.
    { id: HEARTBEAT_FUNCTION_ID, name: "pi-gateway heartbeat", triggers: [{ cron }], concurrency: { limit: 1 } },
    async ({ step, runId }) =>
      step.run("push-heartbeat", async (): Promise<HeartbeatPushResult> => {
        // The id comes from the run, so when Inngest retries the step after a push that did land
        // (say the connection dropped before the reply), the bus's push dedup makes it a no-op.
        const event = createEvent(HEARTBEAT_EVENT_TYPE, source, { interval: cron, host: hostname(), pid: process.pid }, { id: `inngest-${runId}` });
        const result = await push(event);
        return { id: event.id, status: result.status, sessions: result.sessions };
      }),
  );
}

function busPush(options: HeartbeatFunctionOptions): HeartbeatPush {
  return async (event) => {
    // A connection per run: runs are minutes apart, and a long-lived client in a serverless or
    // restarted worker would just be one more thing to keep alive.
    const bus = await GatewayBus.connect({ name: "pi-gateway:inngest", redisUrl: options.redisUrl, prefix: options.prefix });
    try {
      return await bus.push(event);
    } finally {
      await bus.close();
    }
  };
}

export interface InngestAppOptions {
  client: Inngest;
  functions: readonly InngestFunction.Like[];
  /**
   * The origin Inngest should call back, e.g. "http://host.docker.internal:3100". Mandatory when
   * Inngest runs in Docker and this worker on the host: without it the SDK advertises the URL the
   * request came in on (localhost:3100), and inside the container localhost is the container
   * itself. After changing it, force a re-sync: `curl -X PUT http://localhost:3100/api/inngest`.
   * Inngest v4 calls this `serveOrigin`; both names are accepted.
   */
  serveHost?: string;
  serveOrigin?: string;
  /** Path to advertise when a proxy serves this app under another path. */
  servePath?: string;
}

/** A Hono app with the Inngest endpoint at /api/inngest and a /healthz for probes. */
export function createInngestApp(options: InngestAppOptions): Hono {
  const { client, functions, serveHost, serveOrigin = serveHost, servePath } = options;
  if (serveHost && options.serveOrigin && serveHost !== options.serveOrigin) {
    throw new Error(`serveHost "${serveHost}" and serveOrigin "${options.serveOrigin}" disagree; give one`);
  }
  const handler = serve({ client, functions, serveOrigin, servePath });
  const app = new Hono();
  // GET: introspection, PUT: sync (registration), POST: Inngest calling a function step.
  app.on(["GET", "PUT", "POST"], INNGEST_SERVE_PATH, (c) => handler(c));
  app.get("/healthz", (c) => c.json({ ok: true, app: client.id, functions: functions.length }));
  return app;
}

/** The port the original design's worker listens on (and so the one serveHost points at). */
export const DEFAULT_INNGEST_PORT = 3100;

/**
 * Serves the app over HTTP; resolves once it listens. Without a hostname Node listens on every
 * interface, which Docker on Linux needs (host.docker.internal is the bridge address there, not
 * loopback); pass "127.0.0.1" when Inngest runs on the same host without Docker.
 */
export function listenInngestApp(app: Hono, options: { port?: number; hostname?: string } = {}): Promise<{ server: ServerType; port: number }> {
  return new Promise((resolve, reject) => {
    const server = listen({ fetch: app.fetch, port: options.port ?? DEFAULT_INNGEST_PORT, hostname: options.hostname }, (info: AddressInfo) =>
      resolve({ server, port: info.port }),
    );
    server.once("error", reject);
  });
}
