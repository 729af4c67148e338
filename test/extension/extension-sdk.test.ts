/**
 * The extension in an in-process SDK session (createAgentSession + bindExtensions), the way the
 * daemon embeds pi.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { GatewayBus } from "../../src/bus/bus.js";
import { createEvent } from "../../src/protocol/event.js";
import { startFakeLlm, type FakeLlm } from "../helpers/fake-llm.js";
import { createPiEnv, createSdkSession, messageText, type PiEnv } from "../helpers/pi-env.js";
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
  // In-process, the extension reads its settings from this process's environment.
  Object.assign(process.env, { REDIS_URL: redis.url, GATEWAY_ROLE: "satellite", GATEWAY_ID: "sdk-session", GATEWAY_POLL_INTERVAL: "500ms" });
});
after(async () => {
  process.env = saved;
  await bus.close();
  await llm.close();
  await redis.stop();
  piEnv.cleanup();
});

test("SDK session: a targeted event becomes a user message; shutdown keeps the durable session registered but offline", async () => {
  const sdk = await createSdkSession(piEnv, { extensions: [extensionPath] });
  try {
    await waitFor(async () => (await bus.sessions()).find((s) => s.id === "sdk-session" && s.live), "sdk-session registered");
    assert.equal(process.env.GATEWAY_SESSION_ID, "sdk-session", "exported for child processes");
    const result = await bus.push(createEvent("deploy.done", "ci", { env: "prod" }, { id: "sdk-1" }), { target: "sdk-session" });
    assert.deepEqual(result.sessions, ["sdk-session"]);
    await llm.waitForRequest((r) => r.lastUserText.includes("event-id: `sdk-1`"), 5_000);
    await sdk.waitForEvent((e) => e.type === "agent_end", 5_000);
    // A gateway message: pi's custom message type, which the LLM sees as user content.
    const userTexts = sdk.session.messages.filter((m) => m.role === "custom" && m.customType === "pi-gateway").map((m) => messageText(m));
    assert.equal(userTexts.filter((t) => t.includes("sdk-1")).length, 1);
    assert.match(userTexts[0]!, /"env": "prod"/);
    // The TUI's view of it: pi holds the extension's renderer, which draws one line per event from the details.
    const message = sdk.session.messages.find((m) => m.role === "custom" && m.customType === "pi-gateway")!;
    assert.equal(message.role, "custom");
    const details = message.details as { events?: Array<{ id: string; type: string; preview?: string }> };
    assert.deepEqual(
      details.events?.map((e) => [e.id, e.type, e.preview?.includes('"env": "prod"')]),
      [["sdk-1", "deploy.done", true]],
    );
    const renderer = sdk.session.extensionRunner.getMessageRenderer("pi-gateway");
    assert.ok(renderer, "the extension registered its message renderer");
    const theme = { fg: (_c: string, t: string) => t, bg: (_c: string, t: string) => t, bold: (t: string) => t } as never;
    const lines = renderer(message, { expanded: false }, theme)!.render(80).join("\n");
    assert.match(lines, /\d\d:\d\d:\d\d deploy\.done · ci/);
    assert.deepEqual(sdk.extensionErrors, []);
  } finally {
    await sdk.dispose();
  }
  const info = (await bus.sessions()).find((s) => s.id === "sdk-session");
  assert.ok(info, "an explicit GATEWAY_ID is durable: still registered after shutdown");
  assert.equal(info.live, false);
});

test("with no daemon, a central pi fires a due schedule once, as a schedule.fired turn", async () => {
  // The central id's owner fires schedules: this session runs as the central `gateway`.
  const satellite = { GATEWAY_ROLE: process.env.GATEWAY_ROLE, GATEWAY_ID: process.env.GATEWAY_ID };
  Object.assign(process.env, { GATEWAY_ROLE: "central" });
  delete process.env.GATEWAY_ID;
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
    Object.assign(process.env, satellite);
  }
});
