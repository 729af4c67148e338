/**
 * With no daemon, a central pi (the extension in an SDK session) owns the central id and fires the
 * schedules: a schedule due in a second becomes one `schedule.fired` turn.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { GatewayBus } from "../../src/bus/bus.js";
import { startFakeLlm, type FakeLlm } from "../helpers/fake-llm.js";
import { createPiEnv, createSdkSession, type PiEnv } from "../helpers/pi-env.js";
import { startRedis, type RedisServer } from "../helpers/redis-server.js";
import { sleep, waitFor } from "../helpers/wait.js";

const extensionPath = new URL("../../dist/extension/index.js", import.meta.url).pathname;

let redis: RedisServer;
let llm: FakeLlm;
let bus: GatewayBus;
let piEnv: PiEnv;
const saved = { ...process.env };

before(async () => {
  redis = await startRedis();
  llm = await startFakeLlm();
  bus = await GatewayBus.connect({ redisUrl: redis.url });
  piEnv = createPiEnv({ llmUrl: llm.url });
  Object.assign(process.env, { REDIS_URL: redis.url, GATEWAY_ROLE: "central", GATEWAY_POLL_INTERVAL: "500ms" });
  delete process.env.GATEWAY_ID;
});
after(async () => {
  process.env = saved;
  await bus.close();
  await llm.close();
  await redis.stop();
  piEnv.cleanup();
});

test("a central pi fires a due schedule once, as a schedule.fired turn", async () => {
  const sdk = await createSdkSession(piEnv, { extensions: [extensionPath] });
  try {
    await waitFor(async () => (await bus.sessions()).find((s) => s.id === "gateway" && s.live), "the central registered");
    await bus.schedules.add({ id: "ext-wake", session: "gateway", text: "extension-wake-up", kind: "at", due: Date.now() + 1_000, createdBy: "test" });
    const fired = () => llm.requests.filter((r) => r.lastUserText.includes("schedule.fired") && r.lastUserText.includes("extension-wake-up"));
    await waitFor(() => fired().length > 0, "the schedule.fired turn", 15_000);
    await sleep(2_000);
    assert.equal(fired().length, 1);
    assert.deepEqual(await bus.schedules.list(), []);
    assert.deepEqual(sdk.extensionErrors, []);
  } finally {
    await sdk.dispose();
  }
});
