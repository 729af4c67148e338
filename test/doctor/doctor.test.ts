import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { GatewayBus } from "../../src/bus/bus.js";
import { createEvent } from "../../src/protocol/event.js";
import { runCli } from "../helpers/cli.js";
import { startFakeLlm, type FakeLlm } from "../helpers/fake-llm.js";
import { createPiEnv, startRpcPi } from "../helpers/pi-env.js";
import { freePort, startRedis, type RedisServer } from "../helpers/redis-server.js";
import { waitFor } from "../helpers/wait.js";

interface Check {
  id: string;
  status: string;
  detail: string;
  fix?: string;
}

let redis: RedisServer;
let bus: GatewayBus;
before(async () => {
  redis = await startRedis({ aof: true });
  bus = await GatewayBus.connect({ redisUrl: redis.url });
});
after(async () => {
  await bus.close();
  await redis.stop();
});

const home = () => mkdtempSync(join(tmpdir(), "pigw-doctor-"));
const doctor = async (args: string[], env: Record<string, string>) => {
  const result = await runCli(["doctor", "--json", ...args], { env: { PI_CODING_AGENT_DIR: "", ...env }, timeoutMs: 30_000 });
  const report = JSON.parse(result.stdout) as { ok: boolean; checks: Check[] };
  return { code: result.code, report, byId: Object.fromEntries(report.checks.map((c) => [c.id, c])) as Record<string, Check> };
};

describe("pi-gateway doctor", () => {
  test("Redis unreachable: that check fails with how to fix it; the checks that need Redis say so", async () => {
    const { code, report, byId } = await doctor(["--home", home()], { REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    assert.equal(code, 3, "Redis unreachable has its own exit status");
    assert.equal(report.ok, false);
    assert.equal(byId.redis!.status, "fail");
    assert.match(byId.redis!.detail, /^Redis at redis:\/\/127\.0\.0\.1:\d+ refused the connection$/);
    assert.match(byId.redis!.fix!, /start Redis/);
    for (const id of ["extension-loaded", "central", "delivery", "heartbeat", "watchdog"]) {
      assert.equal(byId[id]!.status, "skip");
      assert.equal(byId[id]!.detail, "needs Redis");
    }
  });

  test("nothing set up: each failure has its own message and fix", async () => {
    await bus.client.flushall();
    const h = home();
    const { code, byId } = await doctor(["--home", h], { REDIS_URL: redis.url });
    assert.equal(code, 1);
    assert.equal(byId.redis!.status, "pass");
    const expected: Record<string, RegExp> = {
      "extension-installed": /not in .*settings\.json and not in .*extensions/,
      "extension-loaded": /no live pi session is registered/,
      central: /no central session is registered/,
      heartbeat: /no heartbeat has ever been delivered/,
      watchdog: /the watchdog runs in the central session, and none is live/,
      service: /no systemd service at .*dev\.pi-gateway\.agent\.service/,
    };
    const fixes = new Set<string>();
    for (const [id, message] of Object.entries(expected)) {
      assert.equal(byId[id]!.status, "fail", id);
      assert.match(byId[id]!.detail, message, id);
      assert.ok(byId[id]!.fix, `${id} has a fix`);
      fixes.add(byId[id]!.fix!);
    }
    assert.equal(byId.delivery!.status, "skip");
    assert.ok(fixes.size >= 5, "fixes are specific, not one generic line");
    const human = await runCli(["doctor", "--home", h], { env: { REDIS_URL: redis.url, PI_CODING_AGENT_DIR: "" } });
    assert.match(human.stdout, /✘ Central session present: no central session is registered\n {4}fix: start the always-on session/);
    assert.match(human.stdout, /6 checks failed\./);
  });

  test("healthy setup: setup applied, central pi running with the extension, heartbeat flowing => all pass", async () => {
    await bus.client.flushall();
    const h = home();
    const env = { REDIS_URL: redis.url, PI_CODING_AGENT_DIR: "", GATEWAY_HEARTBEAT_FILE: "" };
    const setup = await runCli(["setup", "--tier", "2", "--source", "cron", "--sessions", "one", "--yes", "--service", "systemd", "--platform", "linux", "--home", h], {
      env: { ...env, PATH: `${new URL("../../node_modules/.bin", import.meta.url).pathname}:${process.env.PATH}` },
    });
    assert.equal(setup.code, 0, setup.stderr);

    const llm: FakeLlm = await startFakeLlm();
    const piEnv = createPiEnv({
      llmUrl: llm.url,
      extensions: [new URL("../../dist/extension/index.js", import.meta.url).pathname],
      env: { REDIS_URL: redis.url, GATEWAY_ROLE: "central", GATEWAY_WATCHDOG_CHECK: "200ms", GATEWAY_POLL_INTERVAL: "500ms" },
    });
    const pi = await startRpcPi(piEnv);
    try {
      await waitFor(async () => (await bus.sessions()).find((s) => s.id === "gateway" && s.live), "central registered");
      await bus.push(createEvent("cron.heartbeat", "cron"));
      await waitFor(() => bus.lastHeartbeat(), "heartbeat delivered");
      await waitFor(async () => (await bus.sessions()).find((s) => s.id === "gateway")?.watchdog === "armed", "watchdog state published");

      const { code, report, byId } = await doctor(["--home", h, "--wait", "10s"], env);
      assert.deepEqual(
        report.checks.filter((c) => c.status !== "pass").map((c) => `${c.id}: ${c.detail}`),
        [],
      );
      assert.equal(code, 0);
      assert.match(byId.delivery!.detail, /delivered to gateway in \d+ms/);
      await llm.waitForRequest((r) => r.lastUserText.includes("gateway.doctor"), 5_000);
    } finally {
      await pi.stop();
      piEnv.cleanup();
      await llm.close();
    }
  });
});
