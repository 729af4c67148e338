import assert from "node:assert/strict";
import { skipWithout } from "../helpers/tools.js";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { runCli } from "../helpers/cli.js";
import { startRedis, type RedisServer } from "../helpers/redis-server.js";
import { waitFor } from "../helpers/wait.js";
import { CLI_BIN } from "../helpers/cli.js";

const repoRoot = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
// pi from this package's dev dependencies stands in for a global install.
const PATH = `${join(repoRoot, "node_modules/.bin")}:${process.env.PATH}`;

let redis: RedisServer;
let env: Record<string, string>;
before(async () => {
  redis = await startRedis();
  env = { REDIS_URL: redis.url, PATH, PI_CODING_AGENT_DIR: "", GATEWAY_HEARTBEAT_FILE: "" };
});
after(async () => {
  await redis.stop();
});

function freshHome(): string {
  return mkdtempSync(join(tmpdir(), "pigw-home-"));
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  (function walk(d: string) {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(p.slice(dir.length + 1));
    }
  })(dir);
  return out.sort();
}

describe("pi-gateway setup", () => {
  test("--dry-run prints every file with its content and writes nothing", async () => {
    const home = freshHome();
    const result = await runCli(
      ["setup", "--tier", "2", "--source", "cron", "--sessions", "one", "--dry-run", "--service", "systemd", "--platform", "linux", "--home", home],
      { env },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Dry run: nothing is written/);
    for (const file of [
      ".pi/agent/settings.json",
      ".config/pi-gateway/gateway.env",
      "HEARTBEAT.md",
      ".config/systemd/user/dev.pi-gateway.agent.service",
      ".config/systemd/user/dev.pi-gateway.heartbeat.service",
    ]) {
      assert.ok(result.stdout.includes(`would create ${join(home, file)}`), `plans ${file}`);
    }
    assert.match(result.stdout, /ExecStart=.*"heartbeat" "--interval" "15m"/);
    assert.match(result.stdout, /GATEWAY_ROLE=central/);
    assert.match(result.stdout, /systemctl --user enable --now dev.pi-gateway.agent.service/);
    assert.deepEqual(listFiles(home), [], "nothing written");
  });

  test("applies idempotently: second run changes nothing and says so; user files are backed up or kept", async () => {
    const home = freshHome();
    const settingsPath = join(home, ".pi/agent/settings.json");
    mkdirSync(dirname(settingsPath), { recursive: true });
    writeFileSync(settingsPath, JSON.stringify({ theme: "dark", packages: ["npm:other"] }));
    writeFileSync(join(home, "HEARTBEAT.md"), "# my own checklist\n");
    const args = [
      "setup",
      "--tier",
      "3",
      "--source",
      "mixed",
      "--sessions",
      "several",
      "--yes",
      "--service",
      "launchd",
      "--platform",
      "darwin",
      "--home",
      home,
    ];

    const first = await runCli(args, { env });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /Done: \d+ created, 1 updated/);
    const settings = JSON.parse(readFileSync(settingsPath, "utf8")) as { theme: string; packages: string[] };
    assert.equal(settings.theme, "dark", "other settings kept");
    assert.deepEqual(settings.packages, ["npm:other", repoRoot]);
    const backups = readdirSync(dirname(settingsPath)).filter((n) => n.startsWith("settings.json.bak-"));
    assert.equal(backups.length, 1, "the user's settings were backed up before the change");
    assert.equal(readFileSync(join(home, "HEARTBEAT.md"), "utf8"), "# my own checklist\n", "HEARTBEAT.md is the user's: kept");
    assert.equal(statSync(join(home, ".config/pi-gateway/gateway.env")).mode & 0o777, 0o600);
    const plist = readFileSync(join(home, "Library/LaunchAgents/dev.pi-gateway.agent.plist"), "utf8");
    assert.match(plist, /<key>KeepAlive<\/key>/);

    const snapshot = listFiles(home).map((f) => [f, statSync(join(home, f)).mtimeMs]);
    const second = await runCli(args, { env });
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /Nothing to change: everything is already set up\./);
    assert.doesNotMatch(second.stdout, /\bcreate\b.*\n.*\bupdate\b/);
    assert.deepEqual(
      listFiles(home).map((f) => [f, statSync(join(home, f)).mtimeMs]),
      snapshot,
      "no file touched",
    );

    const json = await runCli([...args, "--json"], { env });
    assert.equal((JSON.parse(json.stdout) as { changed: boolean }).changed, false);
  });

  test("clear errors: tier 4 not yet available, bad flags, no answers without a terminal", async () => {
    const home = freshHome();
    const cases: Array<[string[], RegExp]> = [
      [["setup", "--tier", "7", "--source", "cron", "--sessions", "one", "--home", home], /--tier must be 1, 2, 3 or 4/],
      [["setup", "--tier", "1", "--source", "email", "--sessions", "one", "--home", home], /--source must be cron, inngest or mixed/],
      [["setup", "--home", home], /setup needs its answers: run it in a terminal/],
      [["setup", "--yes", "--service", "launchd", "--platform", "linux", "--home", home], /launchd is only available on macOS/],
    ];
    for (const [args, message] of cases) {
      const result = await runCli(args, { env });
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, message);
    }
    assert.deepEqual(listFiles(home), []);
  });

  test("tier 4: the daemon as the service, settings placeholders in the 600 env file", async () => {
    const home = freshHome();
    const result = await runCli(
      ["setup", "--tier", "4", "--source", "mixed", "--sessions", "several", "--yes", "--service", "systemd", "--platform", "linux", "--home", home],
      { env },
    );
    assert.equal(result.code, 0, result.stderr);
    const unit = readFileSync(join(home, ".config/systemd/user/dev.pi-gateway.agent.service"), "utf8");
    assert.match(unit, /ExecStart=".*node" ".*dist\/bin\/pi-gateway\.js" "daemon"/);
    const envFile = readFileSync(join(home, ".config/pi-gateway/gateway.env"), "utf8");
    assert.match(envFile, /GATEWAY_SETUP_TIER=4/);
    assert.match(envFile, /# TELEGRAM_BOT_TOKEN=/);
    assert.match(result.stdout, /Tier 4: put TELEGRAM_BOT_TOKEN/);
  });

  test("the interactive wizard, driven in tmux as a user would", { skip: skipWithout("tmux") }, async () => {
    const home = freshHome();
    const socketDir = mkdtempSync(join(tmpdir(), "pigw-tmux-"));
    const tmux = (...args: string[]) => execFileSync("tmux", ["-L", "wizard", ...args], { env: { ...process.env, TMUX_TMPDIR: socketDir }, encoding: "utf8" });
    const screen = () => tmux("capture-pane", "-p", "-t", "wiz", "-S", "-200");
    const command = `REDIS_URL=${redis.url} PATH=${PATH} ${process.execPath} ${CLI_BIN} setup --service none --home ${home}; echo EXIT=$?; sleep 60`;
    tmux("new-session", "-d", "-s", "wiz", "-x", "200", "-y", "50", command);
    try {
      const answer = async (prompt: RegExp, keys: string) => {
        await waitFor(() => prompt.test(screen()), `prompt ${prompt}`, 15_000, 100);
        tmux("send-keys", "-t", "wiz", keys, "Enter");
      };
      await answer(/What's your goal\?[\s\S]*Choose 1-3 \[1\]:\s*$/m, "9"); // a wrong answer is asked again
      await answer(/Please answer with a number from 1 to 3\.\nChoose 1-3 \[1\]:\s*$/m, "2");
      await answer(/What's your event source\?[\s\S]*Choose 1-3 \[1\]:\s*$/m, "1");
      await answer(/How many concurrent agent sessions\?[\s\S]*Choose 1-2 \[1\]:\s*$/m, "2");
      await answer(/Apply these changes\? \[Y\/n\]:\s*$/m, "y");
      await waitFor(() => /EXIT=0/.test(screen()), "wizard finished", 15_000, 100);
      const text = screen();
      assert.match(text, /Setting up tier 3 \(cron, several sessions\)/);
      assert.match(text, /Done: 3 created, 0 updated\./);
      assert.match(text, /Several sessions: the always-on one is central/);
      assert.deepEqual(listFiles(home), [".config/pi-gateway/gateway.env", ".pi/agent/settings.json", "HEARTBEAT.md"]);
    } finally {
      try {
        tmux("kill-server");
      } catch {
        // already gone
      }
      rmSync(socketDir, { recursive: true, force: true });
    }
  });
});

describe("pi-gateway setup, run again", () => {
  const answersOf = (stdout: string) =>
    JSON.parse(stdout) as { answers: { tier: number; source: string; sessions: string }; changed: boolean; ignored: string[] };

  test("--yes keeps the previous run's answers, service and interval: nothing changes", async () => {
    const home = freshHome();
    const first = await runCli(
      [
        "setup",
        "--tier",
        "2",
        "--source",
        "inngest",
        "--sessions",
        "one",
        "--service",
        "tmux",
        "--interval",
        "5m",
        "--yes",
        "--platform",
        "linux",
        "--home",
        home,
      ],
      { env },
    );
    assert.equal(first.code, 0, first.stderr);
    const envFile = readFileSync(join(home, ".config/pi-gateway/gateway.env"), "utf8");
    assert.match(envFile, /^GATEWAY_SETUP_TIER=2\nGATEWAY_SETUP_SOURCE=inngest\nGATEWAY_SETUP_SESSIONS=one\nGATEWAY_SETUP_SERVICE=tmux$/m);
    // Neither the environment nor a gateway.env of the real home says which Redis: the previous run's is kept.
    const again = await runCli(["setup", "--yes", "--json", "--platform", "linux", "--home", home], {
      env: { ...env, GATEWAY_HEARTBEAT_INTERVAL: "", REDIS_URL: "", GATEWAY_ENV_FILE: "none" },
    });
    assert.equal(again.code, 0, again.stderr);
    const out = answersOf(again.stdout);
    assert.deepEqual(out.answers, { tier: 2, source: "inngest", sessions: "one" });
    assert.equal(out.changed, false, "same answers, service (tmux), interval (5m) and Redis URL: nothing to change");
  });

  test("the previous answers at their edges: unset, empty and malformed values fall back to the first choice; malformed ones are reported", async () => {
    const cases: Array<[string | undefined, RegExp | undefined]> = [
      [undefined, undefined],
      ["GATEWAY_SETUP_TIER=\nGATEWAY_SETUP_SOURCE=\nGATEWAY_SETUP_SESSIONS=\n", undefined],
      [
        "GATEWAY_SETUP_TIER=9\nGATEWAY_SETUP_SOURCE=email\nGATEWAY_SETUP_SESSIONS=one\nGATEWAY_HEARTBEAT_INTERVAL=often\nGATEWAY_SETUP_SERVICE=launchd\n",
        /GATEWAY_SETUP_TIER=9 in .*gateway\.env: .*not used as a default/,
      ],
    ];
    for (const [content, warning] of cases) {
      const home = freshHome();
      if (content !== undefined) {
        mkdirSync(join(home, ".config/pi-gateway"), { recursive: true });
        writeFileSync(join(home, ".config/pi-gateway/gateway.env"), content);
      }
      const result = await runCli(["setup", "--yes", "--dry-run", "--platform", "linux", "--home", home], { env });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /Setting up tier 1 \(cron, one session\)/, String(content));
      if (!warning) assert.equal(result.stderr, "", `nothing to report for ${String(content)}`);
      else {
        const lines = result.stderr.trim().split("\n");
        assert.equal(lines.length, 4, result.stderr);
        assert.match(lines[0]!, warning);
        assert.match(lines[1]!, /GATEWAY_SETUP_SOURCE=email .*not used as a default/);
        assert.match(lines[2]!, /GATEWAY_HEARTBEAT_INTERVAL=often .*not a duration like 15m; not used as a default/);
        assert.match(lines[3]!, /GATEWAY_SETUP_SERVICE=launchd in .*: not available on linux; not used as a default/);
      }
    }
  });

  test("the wizard run again proposes the previous answers as defaults (in tmux)", { skip: skipWithout("tmux") }, async () => {
    const home = freshHome();
    const first = await runCli(
      ["setup", "--tier", "3", "--source", "mixed", "--sessions", "several", "--service", "none", "--yes", "--platform", "linux", "--home", home],
      { env },
    );
    assert.equal(first.code, 0, first.stderr);
    const socketDir = mkdtempSync(join(tmpdir(), "pigw-tmux-"));
    const tmux = (...args: string[]) => execFileSync("tmux", ["-L", "wizard2", ...args], { env: { ...process.env, TMUX_TMPDIR: socketDir }, encoding: "utf8" });
    const screen = () => tmux("capture-pane", "-p", "-t", "wiz", "-S", "-200");
    const command = `REDIS_URL=${redis.url} PATH=${PATH} ${process.execPath} ${CLI_BIN} setup --platform linux --home ${home}; echo EXIT=$?; sleep 60`;
    tmux("new-session", "-d", "-s", "wiz", "-x", "200", "-y", "50", command);
    try {
      const enter = async (prompt: RegExp) => {
        await waitFor(() => prompt.test(screen()), `prompt ${prompt}`, 15_000, 100);
        tmux("send-keys", "-t", "wiz", "", "Enter");
      };
      await enter(/The defaults are your previous answers \(.*gateway\.env\)[\s\S]*What's your goal\?[\s\S]*Choose 1-3 \[2\]:\s*$/m);
      await enter(/What's your event source\?[\s\S]*Choose 1-3 \[3\]:\s*$/m);
      await enter(/How many concurrent agent sessions\?[\s\S]*Choose 1-2 \[2\]:\s*$/m);
      await waitFor(() => /EXIT=0/.test(screen()), "wizard finished", 15_000, 100);
      const text = screen();
      assert.match(text, /Setting up tier 3 \(mixed, several sessions\)/);
      assert.match(text, /Nothing to change: everything is already set up\./, "the previous service (none) was kept too");
    } finally {
      try {
        tmux("kill-server");
      } catch {
        // already gone
      }
      rmSync(socketDir, { recursive: true, force: true });
    }
  });
});
