import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { InngestTestEngine } from "@inngest/test";
import { Inngest } from "inngest";
import { GatewayBus } from "../../src/bus/bus.js";
import { createHeartbeatFunction, createInngestApp, HEARTBEAT_FUNCTION_ID, listenInngestApp } from "../../src/heartbeat/inngest.js";
import { HEARTBEAT_EVENT_TYPE, type GatewayEvent } from "../../src/protocol/event.js";
import type { RedisServer } from "../helpers/redis-server.js";
import { useRedisBus } from "../helpers/redis-bus.js";

let redis: RedisServer;
let bus: GatewayBus;

useRedisBus({ flushEach: true }, (r, b) => {
  redis = r;
  bus = b;
});

// Dev mode: no signing key, no Inngest Cloud; nothing here reaches the network.
// The SDK logs a failed step to the console; the test that fails one on purpose keeps it quiet.
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };
const devClient = (fetchImpl?: typeof fetch, silent = false) =>
  new Inngest({ id: "pi-gateway-test", isDev: true, ...(fetchImpl ? { fetch: fetchImpl } : {}), ...(silent ? { logger: quiet } : {}) });

interface StepResult {
  id: string;
  status: string;
  sessions: string[];
}

describe("createHeartbeatFunction", () => {
  // A fresh engine per test: an engine caches step results across its executions.
  test("the push-heartbeat step pushes a cron.heartbeat through the bus (main when nobody is registered)", async () => {
    const fn = createHeartbeatFunction(devClient(), { redisUrl: redis.url });
    const t = new InngestTestEngine({ function: fn });
    const { result, error, ctx } = await t.execute();
    assert.equal(error, undefined);
    assert.equal(ctx.step.run.mock.calls.length, 1);
    assert.equal(ctx.step.run.mock.calls[0]![0], "push-heartbeat");

    const out = result as StepResult;
    // The id derives from the run id (a retried step re-pushes the same id: deduplicated). The
    // test engine makes a new run id for each of its executions, so only the shape is checked.
    assert.match(out.id, /^inngest-[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.equal(out.status, "pushed");
    assert.deepEqual(out.sessions, ["main"]);

    const claimed = await bus.claim("main");
    assert.equal(claimed.events.length, 1);
    const event = claimed.events[0]!;
    assert.equal(event.id, out.id);
    assert.equal(event.type, HEARTBEAT_EVENT_TYPE);
    assert.equal(event.source, "inngest");
    assert.equal((event.payload as { interval: string }).interval, "*/15 * * * *");
  });

  test("with a central session registered the heartbeat goes there, with the configured cron and prefix", async () => {
    const prefixed = await GatewayBus.connect({ redisUrl: redis.url, prefix: "hb" });
    try {
      await prefixed.register({ id: "gateway", role: "central", durable: true, instance: "x" });
      const fn = createHeartbeatFunction(devClient(), { redisUrl: redis.url, prefix: "hb", cron: "*/5 * * * *" });
      const t = new InngestTestEngine({ function: fn });
      const { result } = await t.execute();
      assert.deepEqual((result as StepResult).sessions, ["gateway"]);
      const claimed = await prefixed.claim("gateway");
      assert.equal(claimed.events.length, 1);
      assert.equal((claimed.events[0]!.payload as { interval: string }).interval, "*/5 * * * *");
      assert.equal(await bus.pending("main"), 0, "nothing under the default prefix");
    } finally {
      await prefixed.close();
    }
  });

  test("an injected push replaces the Redis connection", async () => {
    const seen: GatewayEvent[] = [];
    const fn = createHeartbeatFunction(devClient(), {
      source: "my-worker",
      push: async (event) => {
        seen.push(event);
        return { status: "pushed", sessions: ["elsewhere"] };
      },
    });
    const t = new InngestTestEngine({ function: fn });
    const { result } = await t.execute();
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.source, "my-worker");
    assert.deepEqual(result, { id: seen[0]!.id, status: "pushed", sessions: ["elsewhere"] });
  });

  test("a failing push fails the step (so Inngest retries it) instead of reporting success", async () => {
    const fn = createHeartbeatFunction(devClient(undefined, true), { push: () => Promise.reject(new Error("redis down")) });
    const t = new InngestTestEngine({ function: fn });
    const { result, error } = await t.execute();
    assert.equal(result, undefined);
    assert.match(String((error as { message?: string })?.message ?? error), /redis down/);
  });
});

describe("createInngestApp", () => {
  test("GET /api/inngest introspects our function; /healthz answers", async () => {
    const client = devClient();
    const app = createInngestApp({ client, functions: [createHeartbeatFunction(client)], serveHost: "http://host.docker.internal:3100" });
    const res = await app.request("/api/inngest");
    assert.equal(res.status, 200);
    const body = (await res.json()) as { function_count: number; mode: string };
    assert.equal(body.function_count, 1);
    assert.equal(body.mode, "dev");

    const health = await app.request("/healthz");
    assert.deepEqual(await health.json(), { ok: true, app: "pi-gateway-test", functions: 1 });
  });

  test("a sync (PUT) advertises the serveHost origin, not the URL the request came in on", async () => {
    const registrations: Array<{
      url: string;
      body: { url: string; functions: Array<{ id: string; triggers: unknown; steps: Record<string, { runtime: { url: string } }> }> };
    }> = [];
    const fakeFetch = (async (input: string | URL | Request, init?: RequestInit) => {
      registrations.push({ url: String(input), body: JSON.parse(String(init?.body)) });
      return new Response(JSON.stringify({ status: 200, modified: true }), { status: 200, headers: { "Content-Type": "application/json" } });
    }) as typeof fetch;
    const client = devClient(fakeFetch);
    const app = createInngestApp({ client, functions: [createHeartbeatFunction(client)], serveHost: "http://host.docker.internal:3100" });

    const res = await app.request("http://localhost:3100/api/inngest", { method: "PUT" });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(registrations.length, 1);
    const { url, body } = registrations[0]!;
    assert.match(url, /\/fn\/register$/, "registered with the (dev) Inngest server");
    assert.equal(body.url, "http://host.docker.internal:3100/api/inngest");
    const fn = body.functions[0]!;
    assert.ok(fn.id.endsWith(HEARTBEAT_FUNCTION_ID));
    assert.deepEqual(fn.triggers, [{ cron: "*/15 * * * *" }]);
    for (const step of Object.values(fn.steps)) assert.match(step.runtime.url, /^http:\/\/host\.docker\.internal:3100\/api\/inngest\?/);
  });

  test("serveHost and serveOrigin must agree", () => {
    const client = devClient();
    assert.throws(() => createInngestApp({ client, functions: [], serveHost: "http://a:1", serveOrigin: "http://b:2" }), /disagree/);
  });

  test("listenInngestApp serves the app over HTTP", async () => {
    const client = devClient();
    const app = createInngestApp({ client, functions: [createHeartbeatFunction(client)] });
    const { server, port } = await listenInngestApp(app, { port: 0, hostname: "127.0.0.1" });
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(res.status, 200);
      assert.equal(((await res.json()) as { functions: number }).functions, 1);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
