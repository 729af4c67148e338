// planSetup on its own (no files written): which files, services and notes each combination of
// answers gets, at the edges (no pi on PATH, no service manager, Inngest only, no Redis named).
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import type { SetupAnswers } from "../../src/setup/answers.js";
import { setupPaths } from "../../src/setup/paths.js";
import { planSetup, SetupError, type PlanContext } from "../../src/setup/plan.js";

const home = mkdtempSync(join(tmpdir(), "pi-gateway-plan-"));
after(() => rmSync(home, { recursive: true, force: true }));

function context(overrides: Partial<PlanContext> = {}): PlanContext {
  return {
    paths: setupPaths(home, {}),
    platform: "linux",
    manager: "systemd",
    redisUrl: "redis://127.0.0.1:6379",
    packageRoot: "/opt/pi-gateway",
    nodePath: "/usr/bin/node",
    piPath: "/usr/bin/pi",
    heartbeatInterval: "30m",
    ...overrides,
  };
}

const plan = (answers: SetupAnswers, overrides?: Partial<PlanContext>) => planSetup(answers, context(overrides));
const serviceFiles = (p: ReturnType<typeof plan>) => p.files.filter((f) => f.path.endsWith(".service")).map((f) => f.path.split("/").pop());
const envFile = (p: ReturnType<typeof plan>) => p.files.find((f) => f.path.endsWith("gateway.env"))!;

describe("planSetup", () => {
  test("tier 1: pi settings and gateway.env only, no Redis URL unless one was named, no services", () => {
    const p = plan({ tier: 1, source: "cron", sessions: "one" });
    assert.deepEqual(
      p.files.map((f) => f.path),
      [join(home, ".pi", "agent", "settings.json"), join(home, ".config", "pi-gateway", "gateway.env")],
    );
    assert.deepEqual(p.commands, []);
    assert.doesNotMatch(envFile(p).content, /REDIS_URL|GATEWAY_HEARTBEAT_INTERVAL/);
    assert.equal(envFile(p).mode, 0o600);
    assert.match(p.notes.join("\n"), /GATEWAY_ROLE=central pi/);
    assert.match(envFile(plan({ tier: 1, source: "cron", sessions: "one" }, { redisUrlSetting: "redis://:pw@h:1" })).content, /^REDIS_URL=redis:\/\/:pw@h:1$/m);
  });

  test("tier 2: HEARTBEAT.md (never replaced), the tmux pi as central with the interval, the heartbeat service", () => {
    const p = plan({ tier: 2, source: "cron", sessions: "one" });
    assert.equal(p.files.find((f) => f.path.endsWith("HEARTBEAT.md"))?.policy, "create");
    assert.deepEqual(serviceFiles(p), ["dev.pi-gateway.agent.service", "dev.pi-gateway.heartbeat.service"]);
    const agent = p.files.find((f) => f.path.endsWith("agent.service"))!.content;
    assert.match(agent, /GATEWAY_ROLE=central/);
    assert.match(agent, /GATEWAY_HEARTBEAT_INTERVAL=30m/);
    assert.match(envFile(p).content, /^GATEWAY_HEARTBEAT_INTERVAL=30m$/m);
    assert.match(p.notes.join("\n"), /crontab/);
    assert.doesNotMatch(p.notes.join("\n"), /Inngest heartbeat/);
  });

  test("tier 3 (several sessions): the always-on session is still central; the note explains satellites", () => {
    const p = plan({ tier: 3, source: "mixed", sessions: "several" });
    assert.match(p.files.find((f) => f.path.endsWith("agent.service"))!.content, /GATEWAY_ROLE=central/);
    assert.match(p.notes.join("\n"), /Several sessions/);
    assert.match(p.notes.join("\n"), /Inngest heartbeat/);
    assert.match(p.notes.join("\n"), /crontab/);
  });

  test("no pi on PATH: no agent service (said so), the heartbeat service stays", () => {
    const p = plan({ tier: 2, source: "cron", sessions: "one" }, { piPath: undefined });
    assert.deepEqual(serviceFiles(p), ["dev.pi-gateway.heartbeat.service"]);
    assert.match(p.notes.join("\n"), /pi was not found on PATH/);
  });

  test("Inngest only: no heartbeat service and no crontab note; tier 4 runs the daemon", () => {
    const p = plan({ tier: 4, source: "inngest", sessions: "one" }, { piPath: undefined });
    assert.deepEqual(serviceFiles(p), ["dev.pi-gateway.agent.service"]);
    assert.match(p.files.find((f) => f.path.endsWith("agent.service"))!.content, /dist\/bin\/pi-gateway\.js" "daemon"/);
    assert.doesNotMatch(p.notes.join("\n"), /crontab|pi was not found/);
    assert.match(envFile(p).content, /# TELEGRAM_BOT_TOKEN=/);
  });

  test("no service manager: no service files or commands, how to start things by hand instead", () => {
    const p = plan({ tier: 2, source: "cron", sessions: "one" }, { manager: "none" });
    assert.deepEqual(serviceFiles(p), []);
    assert.deepEqual(p.commands, []);
    assert.match(p.notes.join("\n"), /No service manager: .*pi-gateway heartbeat --interval 30m/);
  });

  test("pi's settings.json: other settings and packages kept, ours added once; malformed JSON is a SetupError", () => {
    const agentDir = join(home, ".pi", "agent");
    mkdirSync(agentDir, { recursive: true });
    writeFileSync(join(agentDir, "settings.json"), JSON.stringify({ theme: "dark", packages: ["/other", { source: "/opt/pi-gateway" }] }));
    const settings = JSON.parse(plan({ tier: 1, source: "cron", sessions: "one" }).files[0]!.content) as unknown;
    assert.deepEqual(settings, { theme: "dark", packages: ["/other", { source: "/opt/pi-gateway" }] });
    writeFileSync(join(agentDir, "settings.json"), "{ not json");
    assert.throws(
      () => plan({ tier: 1, source: "cron", sessions: "one" }),
      (error: unknown) => error instanceof SetupError && /not valid JSON/.test(error.message),
    );
    rmSync(join(agentDir, "settings.json"));
  });
});
