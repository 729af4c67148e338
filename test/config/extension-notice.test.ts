/**
 * A bad setting in the extension (the real pi, rpc mode): one notice naming the variable, the value
 * and the expected form; the gateway stays off (no session registered) and pi runs on.
 */
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { createPiEnv, startRpcPi, type RpcEvent } from "../helpers/pi-env.js";
import { usePiSuite } from "../helpers/pi-suite.js";
import { sleep } from "../helpers/wait.js";

const extensionPath = new URL("../../dist/extension/index.js", import.meta.url).pathname;
const suite = usePiSuite({ flushEach: true, piEnv: false });
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

const message = (e: RpcEvent) => String((e as { message?: unknown }).message);
const isNotice = (e: RpcEvent) => e.type === "extension_ui_request" && e.method === "notify";

test("GATEWAY_HEARTBEAT_INTERVAL=15 (no unit): one notice, the gateway stays off, pi answers", async () => {
  const piEnv = createPiEnv({
    llmUrl: suite.llm.url,
    extensions: [extensionPath],
    env: { REDIS_URL: suite.redis.url, GATEWAY_ROLE: "", GATEWAY_ID: "", GATEWAY_HEARTBEAT_INTERVAL: "15" },
  });
  const pi = await startRpcPi(piEnv);
  cleanups.push(() => piEnv.cleanup());
  cleanups.push(() => pi.stop());
  const notice = await pi.waitForEvent((e) => isNotice(e) && /gateway disabled/.test(message(e)), 10_000);
  assert.equal(message(notice), 'gateway disabled: GATEWAY_HEARTBEAT_INTERVAL="15" is not a duration (expected e.g. 500ms, 30s, 15m, 2h)');
  await sleep(500);
  assert.deepEqual(await suite.bus.client.keys("agent:session*"), [], "no session registered");
  const since = pi.events.length;
  await pi.prompt("/gateway");
  const report = await pi.waitForEvent((e) => isNotice(e) && /gateway: not running/.test(message(e)), 5_000, since);
  assert.ok(report, "pi runs on without the gateway");
});
