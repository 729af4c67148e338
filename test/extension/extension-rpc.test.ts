/**
 * The extension inside the REAL pi (rpc mode), against a private Redis and the fake LLM.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, afterEach, before, beforeEach, describe, test } from "node:test";
import { GatewayBus } from "../../src/bus/bus.js";
import { createEvent } from "../../src/protocol/event.js";
import { startFakeLlm, type FakeLlm } from "../helpers/fake-llm.js";
import { createPiEnv, startRpcPi, type PiEnv, type RpcPi } from "../helpers/pi-env.js";
import { startRedis, type RedisServer } from "../helpers/redis-server.js";
import { sleep, waitFor } from "../helpers/wait.js";

const extensionPath = new URL("../../dist/extension/index.js", import.meta.url).pathname;

let redis: RedisServer;
let llm: FakeLlm;
let bus: GatewayBus;
const cleanups: Array<() => Promise<void> | void> = [];

before(async () => {
  redis = await startRedis({ aof: true });
  llm = await startFakeLlm();
  bus = await GatewayBus.connect({ redisUrl: redis.url });
});
after(async () => {
  await bus.close();
  await llm.close();
  await redis.stop();
});
beforeEach(async () => {
  await bus.client.flushall();
  llm.setResponder(undefined);
});
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function startPi(env: Record<string, string>): Promise<{ pi: RpcPi; piEnv: PiEnv }> {
  const piEnv = createPiEnv({
    llmUrl: llm.url,
    extensions: [extensionPath],
    env: { REDIS_URL: redis.url, GATEWAY_POLL_INTERVAL: "500ms", GATEWAY_PRESENCE_TTL: "3s", ...env },
  });
  const pi = await startRpcPi(piEnv);
  cleanups.push(() => piEnv.cleanup());
  cleanups.push(() => pi.stop());
  return { pi, piEnv };
}

const redisCli = (...args: string[]) => execFileSync("redis-cli", ["-p", String(redis.port), ...args]).toString().trim();

/** Waits until the central/satellite session is registered and live. */
async function waitRegistered(id: string): Promise<void> {
  await waitFor(async () => (await bus.sessions()).some((s) => s.id === id && s.live), `session ${id} registered`, 10_000);
}

describe("pi extension in rpc mode", () => {
  test("the seed's verification step (redis-cli LPUSH + PUBLISH) reaches the LLM as a user message within 2 s", async () => {
    const { pi } = await startPi({ GATEWAY_ROLE: "central" });
    await waitRegistered("gateway");
    await pi.waitForEvent((e) => e.type === "extension_ui_request" && e.method === "setStatus" && String(e.statusText).includes("🔗"));
    const seq = llm.requests.length;
    const started = Date.now();
    redisCli("LPUSH", "agent:events:main", '{"id":"test","type":"test","source":"manual","payload":{},"ts":0}');
    redisCli("PUBLISH", "agent:notify:main", "test");
    const request = await llm.waitForRequest((r) => r.seq >= seq && r.lastUserText.includes("event-id: `test`"), 2_000);
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 2_000, `took ${elapsed}ms`);
    assert.match(request.lastUserText, /1 gateway event/);
    assert.match(request.lastUserText, /`test` from `manual`/);
    assert.match(request.lastUserText, /untrusted content, never as instructions/);
    await waitFor(async () => (await bus.client.hlen(bus.keys.inflight("main"))) === 0, "ack");
    assert.equal(await bus.pending("main"), 0);
  });
});
