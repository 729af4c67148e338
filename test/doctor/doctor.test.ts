import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { GatewayBus } from "../../src/bus/bus.js";
import { createEvent } from "../../src/protocol/event.js";
import { checkServiceInstalled, checkServiceRunning, type CommandProbe, type ProbeResult } from "../../src/doctor/service.js";
import { AGENT_SERVICE_LABEL, serviceFilePath, setupPaths } from "../../src/setup/paths.js";
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

/** A directory of stand-in commands (name -> sh body), to prepend to PATH. */
function fakeTools(tools: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "pigw-tools-"));
  for (const [name, body] of Object.entries(tools)) {
    writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(dir, name), 0o755);
  }
  return dir;
}
const doctor = async (args: string[], env: Record<string, string>) => {
  const result = await runCli(["doctor", "--json", ...args], { env: { PI_CODING_AGENT_DIR: "", ...env }, timeoutMs: 30_000 });
  const report = JSON.parse(result.stdout) as { ok: boolean; checks: Check[] };
  return { code: result.code, report, byId: Object.fromEntries(report.checks.map((c) => [c.id, c])) as Record<string, Check> };
};

describe("pi-gateway doctor", () => {
  test("Redis unreachable: that check fails with how to fix it; the checks that need Redis say so", async () => {
    // --no-push (the old opt-out, now the default) is still accepted.
    const { code, report, byId } = await doctor(["--home", home(), "--no-push"], { REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
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
    const setup = await runCli(
      ["setup", "--tier", "2", "--source", "cron", "--sessions", "one", "--yes", "--service", "systemd", "--platform", "linux", "--home", h],
      {
        env: { ...env, PATH: `${new URL("../../node_modules/.bin", import.meta.url).pathname}:${process.env.PATH}` },
      },
    );
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

      // The service manager's answer comes from a systemctl on PATH that says "active".
      const running = { ...env, PATH: `${fakeTools({ systemctl: "echo active" })}:${process.env.PATH}` };
      const quick = await doctor(["--home", h], running);
      assert.deepEqual(
        quick.report.checks.filter((c) => c.status !== "pass").map((c) => `${c.id}: ${c.status}`),
        ["delivery: skip"],
        JSON.stringify(quick.report.checks),
      );
      assert.equal(quick.code, 0);
      assert.match(quick.byId.delivery!.detail, /costs the central session an LLM turn \(pi-gateway doctor --deep runs it\)/);
      assert.equal(quick.byId["service-running"]!.detail, "systemctl --user is-active dev.pi-gateway.agent.service: active");
      assert.ok(!(await bus.journal(100)).some((e) => e.type === "gateway.doctor"), "the default run pushed nothing");
      assert.ok(!llm.chatRequests().some((r) => r.lastUserText.includes("gateway.doctor")), "and spent no turn");

      const { code, report, byId } = await doctor(["--home", h, "--deep", "--wait", "10s"], running);
      assert.deepEqual(
        report.checks.filter((c) => c.status !== "pass").map((c) => `${c.id}: ${c.detail}`),
        [],
      );
      assert.equal(code, 0);
      assert.match(byId.delivery!.detail, /delivered to gateway in \d+ms/);
      await llm.waitForRequest((r) => r.lastUserText.includes("gateway.doctor"), 5_000);
      assert.equal(llm.chatRequests().filter((r) => r.lastUserText.includes("gateway.doctor")).length, 1, "--deep spent one turn");
    } finally {
      await pi.stop();
      piEnv.cleanup();
      await llm.close();
    }
  });
});

describe("doctor: service installed is not service running", () => {
  const paths = (h: string) => setupPaths(h, {});
  const install = (h: string, manager: "systemd" | "launchd") => {
    const file = serviceFilePath(h, manager, AGENT_SERVICE_LABEL);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, "unit");
  };
  const probeAnswering =
    (answer: ProbeResult, calls: string[][] = []): CommandProbe =>
    async (command, args) => {
      calls.push([command, ...args]);
      return answer;
    };

  test("systemd: active passes; inactive or failed fails with how to start it and where to look; no systemctl is a warning", async () => {
    const h = home();
    install(h, "systemd");
    assert.equal(checkServiceInstalled("systemd", paths(h)).status, "pass");
    const calls: string[][] = [];
    const active = await checkServiceRunning("systemd", paths(h), probeAnswering({ code: 0, stdout: "active\n" }, calls));
    assert.equal(active.status, "pass");
    assert.deepEqual(calls, [["systemctl", "--user", "is-active", "dev.pi-gateway.agent.service"]]);
    for (const state of ["inactive", "failed", "activating"]) {
      const down = await checkServiceRunning("systemd", paths(h), probeAnswering({ code: 3, stdout: `${state}\n` }));
      assert.equal(down.status, "fail");
      assert.equal(down.detail, `installed but not running (systemctl --user is-active dev.pi-gateway.agent.service: ${state})`);
      assert.match(down.fix!, /systemctl --user enable --now dev\.pi-gateway\.agent\.service; why it stopped: journalctl --user -u/);
    }
    const missing = await checkServiceRunning("systemd", paths(h), probeAnswering({ code: null, stdout: "", error: "spawn systemctl ENOENT" }));
    assert.equal(missing.status, "warn");
    assert.match(missing.detail, /cannot tell: systemctl --user is-active did not run \(spawn systemctl ENOENT\)/);
  });

  test("launchd: state = running passes; loaded but stopped, or not loaded, fail", async () => {
    const h = home();
    install(h, "launchd");
    const print = (stdout: string, code = 0) => checkServiceRunning("launchd", paths(h), probeAnswering({ code, stdout }));
    assert.equal((await print("gui/501/dev.pi-gateway.agent = {\n\tstate = running\n\tpid = 42\n}")).status, "pass");
    const stopped = await print("gui/501/dev.pi-gateway.agent = {\n\tstate = not running\n}");
    assert.equal(stopped.status, "fail");
    assert.match(stopped.detail, /loaded but not running \(launchctl print gui\/\d+\/dev\.pi-gateway\.agent: state = not running\)/);
    assert.match(stopped.fix!, /launchctl kickstart -k gui\/\d+\/dev\.pi-gateway\.agent/);
    const unloaded = await print("", 113);
    assert.equal(unloaded.status, "fail");
    assert.match(unloaded.detail, /installed but not loaded/);
    assert.match(unloaded.fix!, /launchctl bootstrap gui\/\$\(id -u\) .*dev\.pi-gateway\.agent\.plist/);
  });

  test("tmux: nothing to install; running means the session exists on pi-gateway's tmux server", async () => {
    const h = home();
    assert.equal(checkServiceInstalled("tmux", paths(h)).status, "skip");
    const calls: string[][] = [];
    assert.equal((await checkServiceRunning("tmux", paths(h), probeAnswering({ code: 0, stdout: "" }, calls))).status, "pass");
    assert.deepEqual(calls, [["tmux", "-L", "pi-gateway", "has-session", "-t", "=agent"]]);
    const gone = await checkServiceRunning("tmux", paths(h), probeAnswering({ code: 1, stdout: "" }));
    assert.equal(gone.status, "fail");
    assert.match(gone.detail, /no tmux session "agent"/);
  });

  test("not installed: the running check is skipped (one failure, not two); --service none: both skipped", async () => {
    const h = home();
    const probe = probeAnswering({ code: 0, stdout: "active" });
    assert.equal(checkServiceInstalled("systemd", paths(h)).status, "fail");
    assert.deepEqual(await checkServiceRunning("systemd", paths(h), probe), {
      id: "service-running",
      title: "Always-on service running",
      status: "skip",
      detail: "not installed",
    });
    assert.equal(checkServiceInstalled("none", paths(h)).status, "skip");
    assert.equal((await checkServiceRunning("none", paths(h), probe)).status, "skip");
  });

  test("the CLI probes the manager setup recorded: installed by setup, but systemctl says inactive", async () => {
    await bus.client.flushall();
    const h = home();
    const setup = await runCli(
      ["setup", "--tier", "2", "--source", "cron", "--sessions", "one", "--yes", "--service", "systemd", "--platform", "linux", "--home", h],
      {
        // pi on PATH (this package's dev dependency), so setup writes the agent's unit.
        env: {
          REDIS_URL: redis.url,
          PI_CODING_AGENT_DIR: "",
          GATEWAY_HEARTBEAT_FILE: "",
          PATH: `${new URL("../../node_modules/.bin", import.meta.url).pathname}:${process.env.PATH}`,
        },
      },
    );
    assert.equal(setup.code, 0, setup.stderr);
    const tools = fakeTools({ systemctl: "echo inactive; exit 3" });
    const { byId } = await doctor(["--home", h], { REDIS_URL: redis.url, PATH: `${tools}:${process.env.PATH}` });
    assert.equal(byId.service!.status, "pass");
    assert.match(byId.service!.detail, /^systemd unit .*dev\.pi-gateway\.agent\.service$/);
    assert.equal(byId["service-running"]!.status, "fail");
    assert.match(byId["service-running"]!.detail, /installed but not running \(systemctl --user is-active dev\.pi-gateway\.agent\.service: inactive\)/);
    const human = await runCli(["doctor", "--home", h], { env: { REDIS_URL: redis.url, PI_CODING_AGENT_DIR: "", PATH: `${tools}:${process.env.PATH}` } });
    assert.match(human.stdout, /✔ Always-on service installed: systemd unit /);
    assert.match(human.stdout, /✘ Always-on service running: installed but not running/);
  });
});
