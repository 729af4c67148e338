/**
 * Shutdown ends within GATEWAY_SHUTDOWN_GRACE whatever Redis does (issue #17 item 6): a daemon sent
 * SIGTERM while its Redis is gone, or while a turn runs and Redis is gone, exits within the grace
 * (plus process teardown), keeping in-flight work for replay, and says what it left behind.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startDaemon, type DaemonProcess } from "../helpers/daemon.js";
import { startFakeLlm, type FakeLlm } from "../helpers/fake-llm.js";
import { createPiEnv, type PiEnv } from "../helpers/pi-env.js";
import { startRedis, type RedisServer } from "../helpers/redis-server.js";
import { waitFor } from "../helpers/wait.js";

const GRACE_MS = 3_000;
/** Node's own exit after the last bookkeeping: generous on a busy 2-core machine, far below the 5 s+ it took before. */
const TEARDOWN_MS = 1_500;

let llm: FakeLlm;
let piEnv: PiEnv;
const running: DaemonProcess[] = [];
const servers: RedisServer[] = [];

before(async () => {
  llm = await startFakeLlm();
  piEnv = createPiEnv({ llmUrl: llm.url });
});
after(async () => {
  for (const d of running.splice(0)) await d.kill();
  for (const r of servers.splice(0)) await r.stop().catch(() => undefined);
  await llm.close();
  piEnv.cleanup();
});

async function daemonWithOwnRedis(): Promise<{ daemon: DaemonProcess; redis: RedisServer }> {
  const redis = await startRedis();
  servers.push(redis);
  const daemon = await startDaemon(
    {
      ...piEnv.env,
      REDIS_URL: redis.url,
      GATEWAY_TOKEN: "shutdown-grace-token-0123456789",
      GATEWAY_SHUTDOWN_GRACE: `${GRACE_MS}ms`,
      GATEWAY_LOG_LEVEL: "info",
    },
    ["--cwd", piEnv.cwd],
    30_000,
  );
  running.push(daemon);
  return { daemon, redis };
}

async function timedStop(daemon: DaemonProcess): Promise<{ ms: number; code: number | null }> {
  const started = Date.now();
  const code = await daemon.stop();
  return { ms: Date.now() - started, code };
}

describe("shutdown within its grace", () => {
  test("Redis gone: SIGTERM ends the daemon within the grace and it says what it left behind", async () => {
    llm.setResponder(undefined);
    const { daemon, redis } = await daemonWithOwnRedis();
    await redis.kill("SIGKILL");
    await waitFor(async () => (await fetch(`${daemon.url}/readyz`)).status === 503, "the daemon noticed Redis is gone", 10_000);
    const { ms } = await timedStop(daemon);
    assert.ok(ms < GRACE_MS + TEARDOWN_MS, `stopped after ${ms} ms (grace ${GRACE_MS} ms)\n${daemon.output().slice(-2000)}`);
    // Whether a step then waits out the grace or fails at once depends on timing (a client still
    // reconnecting queues the write, a closed one refuses it): either way the stop says Redis was gone.
    assert.match(daemon.output(), /pi-gateway daemon: Redis was unreachable during the stop: .+ could not be written\n/);
    assert.match(daemon.output(), /nothing is lost: unfinished work stays in Redis for the next start/);
    console.log(`stopped ${ms} ms after SIGTERM (grace ${GRACE_MS} ms)`);
  });

  test("Redis up: a clean stop leaves nothing behind and says nothing about it", async () => {
    llm.setResponder(undefined);
    const { daemon } = await daemonWithOwnRedis();
    const { ms, code } = await timedStop(daemon);
    assert.equal(code, 0, daemon.output().slice(-2000));
    assert.ok(ms < GRACE_MS + TEARDOWN_MS, `stopped after ${ms} ms`);
    assert.doesNotMatch(daemon.output(), /did not finish within|failed: |nothing is lost/);
  });

  test("a turn running and Redis gone: still within the grace", async () => {
    llm.setResponder(() => ({ text: "slow", delayMs: 60_000 }));
    const { daemon, redis } = await daemonWithOwnRedis();
    const token = "shutdown-grace-token-0123456789";
    const response = await fetch(`${daemon.url}/events`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ type: "deploy.finished", source: "ci", payload: {} }),
    });
    assert.equal(response.status, 202);
    await waitFor(async () => llm.chatRequests().length > 0, "the turn started", 20_000);
    await redis.kill("SIGKILL");
    const { ms } = await timedStop(daemon);
    assert.ok(ms < GRACE_MS + TEARDOWN_MS, `stopped after ${ms} ms (grace ${GRACE_MS} ms)\n${daemon.output().slice(-2000)}`);
    assert.match(daemon.output(), /was interrupted: the next start replays it/);
    console.log(`stopped ${ms} ms after SIGTERM (grace ${GRACE_MS} ms)`);
  });
});
