import assert from "node:assert/strict";
import { skipWithout } from "../helpers/tools.js";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, isAbsolute, join } from "node:path";
import { after, describe, test } from "node:test";
import plist from "plist";
import { z } from "zod";
import {
  generateServiceFiles,
  launchdCommands,
  launchdPlist,
  shellJoin,
  shellQuote,
  systemdCommands,
  systemdEscapeArg,
  systemdUserUnit,
  tmuxCommand,
  tmuxSupervisorScript,
  type GeneratedFile,
  type ServiceSpec,
} from "../../src/setup/service/index.js";
import { sleep, waitFor } from "../helpers/wait.js";

const scratch = mkdtempSync(join(tmpdir(), "pigw-service-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

function spec(overrides: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    label: "dev.pi-gateway.agent",
    description: "pi gateway",
    program: process.execPath,
    args: ["/opt/pi-gateway/dist/cli/main.js", "daemon"],
    workingDirectory: scratch,
    env: { REDIS_URL: "redis://127.0.0.1:6379" },
    logDir: join(scratch, "logs"),
    mode: "daemon",
    ...overrides,
  };
}

// Strings that break naive quoting in XML, systemd units and shells.
const nasty = [
  "a b",
  "100%",
  "%n %%",
  "$HOME",
  "${X}",
  "$$",
  `"dq"`,
  "'sq'",
  "a\\b",
  "&amp; <tag>",
  ";",
  "`id`",
  "*",
  "~",
  "-n",
  "tab\there",
  "line1\nline2",
  "é ☃",
];

describe("launchd", () => {
  const absolute = z.string().refine((p) => isAbsolute(p), "must be an absolute path");
  // Required keys and their types; strict() also rejects misspelt keys, which launchd ignores silently.
  const LaunchAgent = z
    .object({
      Label: z.string().regex(/^[A-Za-z0-9._-]+$/),
      ProgramArguments: z
        .array(z.string())
        .min(1)
        .refine((a) => isAbsolute(a[0]!), "first element must be absolute"),
      WorkingDirectory: absolute,
      EnvironmentVariables: z.record(z.string(), z.string()).refine((e) => Boolean(e.PATH), "PATH is required"),
      RunAtLoad: z.literal(true),
      KeepAlive: z.union([z.boolean(), z.object({ SuccessfulExit: z.boolean() })]),
      ThrottleInterval: z.number().int().positive(),
      StandardOutPath: absolute,
      StandardErrorPath: absolute,
      ProcessType: z.enum(["Interactive", "Background", "Standard", "Adaptive"]),
    })
    .strict();

  function parse(file: GeneratedFile) {
    return LaunchAgent.parse(plist.parse(file.content));
  }

  test("daemon mode: a valid LaunchAgent named after its label, with the Apple DOCTYPE", () => {
    const file = launchdPlist(spec(), { home: "/Users/me" });
    assert.match(
      file.content,
      /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<!DOCTYPE plist PUBLIC "-\/\/Apple\/\/DTD PLIST 1\.0\/\/EN" "http:\/\/www\.apple\.com\/DTDs\/PropertyList-1\.0\.dtd">/,
    );
    const agent = parse(file);
    assert.equal(file.path, "/Users/me/Library/LaunchAgents/dev.pi-gateway.agent.plist");
    assert.equal(basename(file.path), `${agent.Label}.plist`);
    assert.deepEqual(agent.ProgramArguments, [process.execPath, "/opt/pi-gateway/dist/cli/main.js", "daemon"]);
    assert.ok(agent.EnvironmentVariables.PATH!.split(":").includes(dirname(process.execPath)), "node's directory is on PATH");
    assert.ok(agent.StandardOutPath.startsWith(join(scratch, "logs")));
    assert.equal(file.mode, 0o644);
    const commands = launchdCommands(file);
    assert.ok(commands.install.includes(`launchctl bootstrap gui/$(id -u) ${file.path}`));
    assert.deepEqual(commands.uninstall, ["launchctl bootout gui/$(id -u)/dev.pi-gateway.agent"]);
  });

  test("args and env with XML and shell metacharacters survive the round-trip exactly", () => {
    const env = Object.fromEntries(nasty.map((value, i) => [`V${i}`, value]));
    const agent = parse(launchdPlist(spec({ args: nasty, env, workingDirectory: "/tmp/a & <b>" }), { home: "/Users/me" }));
    assert.deepEqual(agent.ProgramArguments, [process.execPath, ...nasty]);
    for (const [key, value] of Object.entries(env)) assert.equal(agent.EnvironmentVariables[key], value);
    assert.equal(agent.WorkingDirectory, "/tmp/a & <b>");
  });

  test("tmux-pi mode runs the supervisor shell with GATEWAY_ROLE=central; secrets make the file private", () => {
    const s = spec({ mode: "tmux-pi", program: "/usr/local/bin/pi", args: [], env: { TELEGRAM_BOT_TOKEN: "123:abc" } });
    const file = launchdPlist(s, { home: "/Users/me" });
    const agent = parse(file);
    assert.deepEqual(agent.ProgramArguments, ["/bin/sh", "-c", tmuxSupervisorScript(s)]);
    assert.equal(agent.EnvironmentVariables.GATEWAY_ROLE, "central");
    assert.equal(file.mode, 0o600);
    assert.equal(launchdPlist(spec({ env: { REDIS_URL: "redis://:hunter2@h:6379" } }), { home: "/h" }).mode, 0o600);
  });

  test("rejects a label that would escape LaunchAgents or a relative program", () => {
    assert.throws(() => launchdPlist(spec({ label: "../evil" }), { home: "/h" }), /label/);
    assert.throws(() => launchdPlist(spec({ program: "node" }), { home: "/h" }), /absolute/);
  });
});

describe("systemd", () => {
  const needsVerify = { skip: skipWithout("systemd-analyze") };
  /**
   * Runs the real `systemd-analyze verify` the way it works as root in a container without a running
   * systemd: --user needs an XDG_RUNTIME_DIR (else "Failed to initialize manager"); a private HOME and
   * XDG_CONFIG_HOME keep the host's own user units out; --man=false skips checking Documentation= man
   * pages. Returns every output line that mentions our unit (its path or file name).
   */
  function verify(unitPath: string): { code: number | null; ours: string[]; output: string } {
    const runtime = mkdtempSync(join(tmpdir(), "pigw-xdg-"));
    chmodSync(runtime, 0o700);
    try {
      const result = spawnSync("systemd-analyze", ["--user", "--man=false", "verify", unitPath], {
        encoding: "utf8",
        env: { PATH: process.env.PATH, HOME: runtime, XDG_CONFIG_HOME: join(runtime, "config"), XDG_RUNTIME_DIR: runtime, SYSTEMD_LOG_COLOR: "0" },
      });
      if ((result.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT") {
        assert.fail("systemd-analyze is not installed; it is in the Debian package 'systemd' (apt-get install -y systemd)");
      }
      const output = `${result.stdout}${result.stderr}`;
      // Lines about other units (e.g. a distro's broken system unit pulled in by default.target) are
      // not ours to fix; anything naming our file, warnings included, fails the test.
      const ours = output.split("\n").filter((line) => line.includes(unitPath) || line.includes(basename(unitPath)));
      return { code: result.status, ours, output };
    } finally {
      rmSync(runtime, { recursive: true, force: true });
    }
  }

  function writeUnit(file: GeneratedFile): string {
    mkdirSync(dirname(file.path), { recursive: true });
    writeFileSync(file.path, file.content, { mode: file.mode });
    return file.path;
  }

  function assertVerifies(file: GeneratedFile): void {
    const { code, ours, output } = verify(writeUnit(file));
    assert.deepEqual(ours, [], `systemd-analyze complained about the unit:\n${output}\n--- unit ---\n${file.content}`);
    assert.equal(code, 0, output);
  }

  test("systemdEscapeArg doubles % and $, escapes quotes, backslashes and newlines, and quotes the word", () => {
    assert.equal(systemdEscapeArg("plain"), '"plain"');
    assert.equal(systemdEscapeArg("a b"), '"a b"');
    assert.equal(systemdEscapeArg("100% $HOME"), '"100%% $$HOME"');
    assert.equal(systemdEscapeArg(`say "hi" \\ 'x'`), `"say \\"hi\\" \\\\ 'x'"`);
    assert.equal(systemdEscapeArg("a\nb\tc"), '"a\\nb\\tc"');
    assert.equal(systemdEscapeArg(";"), '";"');
  });

  test("a daemon unit with nasty args, env and paths passes systemd-analyze verify with no output", needsVerify, () => {
    // An executable and a working directory whose paths need escaping; the executable must exist.
    const odd = join(scratch, "bin dir %n $x");
    mkdirSync(odd, { recursive: true });
    symlinkSync(process.execPath, join(odd, "node"));
    const env = Object.fromEntries(nasty.map((value, i) => [`V${i}`, value]));
    const home = join(scratch, "home-daemon");
    const file = systemdUserUnit(spec({ program: join(odd, "node"), args: nasty, env, workingDirectory: odd, description: "pi 100% gateway" }), { home });
    assert.equal(file.path, join(home, ".config/systemd/user/dev.pi-gateway.agent.service"));
    assert.match(file.content, /^Restart=always$/m);
    // A stop lets the daemon finish its turn and stop its embedded Redis itself.
    assert.match(file.content, /^KillMode=mixed$/m);
    assert.match(file.content, /^TimeoutStopSec=45$/m);
    assert.match(file.content, /^WantedBy=default\.target$/m);
    assert.match(file.content, /^Environment="V1=100%%"$/m);
    assertVerifies(file);
  });

  test("a tmux-pi unit passes systemd-analyze verify", needsVerify, () => {
    const file = systemdUserUnit(spec({ mode: "tmux-pi", program: "/usr/local/bin/pi", args: ["--model", "a b%c"] }), { home: join(scratch, "home-tmux") });
    assert.match(file.content, /^ExecStart="\/bin\/sh" "-c" /m);
    assert.doesNotMatch(file.content, /KillMode/, "the default control-group stop also ends the tmux server and pi");
    assertVerifies(file);
  });

  test("systemd decodes an escaped word back to the original (read back from verify's own message)", needsVerify, () => {
    // verify reports the executable it could not run, after unquoting and specifier expansion: that
    // is systemd's own decoding of our escaping. ($ is not expanded in the executable, only in args.)
    const original = `/nonexistent/a b%n%%c"d\\e\\n;f'g`; // without escaping, "\\n" would become a newline
    const path = join(scratch, "decode.service");
    writeFileSync(path, `[Service]\nExecStart=${systemdEscapeArg(original)}\n`);
    const { output } = verify(path);
    assert.ok(output.includes(original), `systemd decoded something else:\n${output}`);
  });

  test("verify catches what it should (so a clean run means something)", needsVerify, () => {
    const file = systemdUserUnit(spec(), { home: join(scratch, "home-bad") });
    file.content = file.content.replace("Restart=always", "Restart=always\nRestartSecs=5").replace('ExecStart="', 'ExecStart="/nonexistent');
    const { ours } = verify(writeUnit(file));
    assert.ok(
      ours.some((l) => l.includes("Unknown key 'RestartSecs'")),
      ours.join("\n"),
    );
    assert.ok(
      ours.some((l) => l.includes("is not executable")),
      ours.join("\n"),
    );
  });

  test("commands enable lingering, reload and enable the unit", () => {
    const file = systemdUserUnit(spec(), { home: "/home/me" });
    assert.deepEqual(systemdCommands(file).install, [
      'loginctl enable-linger "$USER"',
      "systemctl --user daemon-reload",
      "systemctl --user enable --now dev.pi-gateway.agent.service",
    ]);
  });
});

describe("tmux", { skip: skipWithout("tmux") }, () => {
  const socket = `pigw-test-${process.pid}`;
  // TMUX_TMPDIR puts the socket in our scratch directory (tmux leaves it behind after kill-server);
  // an empty $TMUX keeps a tmux session running these tests from interfering.
  const env = { ...process.env, TMUX: "", TMUX_TMPDIR: scratch };
  const tmux = (...args: string[]) => spawnSync("tmux", ["-L", socket, ...args], { encoding: "utf8", env });
  after(() => tmux("kill-server"));

  test("tmuxCommand starts a detached session running the program with its env and working directory", async () => {
    const dir = mkdtempSync(join(scratch, "tmux-"));
    const value = `it's <&> $x "q" %n`;
    const s = spec({ program: "/bin/sh", args: ["-c", 'printf %s "$MARK" > out.txt; sleep 30'], env: { MARK: value }, workingDirectory: dir });
    const result = spawnSync("/bin/sh", ["-c", tmuxCommand(s, { socketName: socket, session: "cmd" })], { encoding: "utf8", env });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(tmux("has-session", "-t", "=cmd").status, 0);
    const out = await waitFor(() => readFileSafe(join(dir, "out.txt")), "the program to write its marker");
    assert.equal(out, value);
    tmux("kill-session", "-t", "=cmd");
  });

  test("the supervisor starts pi's session with GATEWAY_ROLE=central and exits when the session ends", async () => {
    const dir = mkdtempSync(join(scratch, "sup-"));
    const s = spec({
      mode: "tmux-pi",
      program: "/bin/sh",
      args: ["-c", 'printf %s "$GATEWAY_ROLE $MARK" > out.txt; sleep 30'],
      env: { MARK: "m" },
      workingDirectory: dir,
    });
    const options = { socketName: socket, session: "sup", pollSeconds: 1 };
    // As launchd/systemd would: the service environment (GATEWAY_ROLE from the generated file) is inherited.
    const supervisor = spawn("/bin/sh", ["-c", tmuxSupervisorScript(s, options)], { env: { ...env, GATEWAY_ROLE: "central", MARK: "m" }, stdio: "ignore" });
    const exited = new Promise<number | null>((resolve) => supervisor.on("exit", resolve));
    try {
      assert.equal(await waitFor(() => readFileSafe(join(dir, "out.txt")), "pi stand-in to start"), "central m");
      assert.equal(tmux("has-session", "-t", "=sup").status, 0);
      // A second supervisor (a restart while pi survived) adopts the session instead of failing.
      const again = spawn("/bin/sh", ["-c", tmuxSupervisorScript(s, options)], { env, stdio: "ignore" });
      const againExit = new Promise<number | null>((resolve) => again.on("exit", resolve));
      await sleep(1_500); // longer than one poll: a failed new-session would have exited by now
      assert.equal(again.exitCode, null, "the second supervisor gave up instead of adopting the session");
      assert.equal(tmux("list-sessions", "-F", "#{session_name}").stdout, "sup\n");
      tmux("kill-session", "-t", "=sup");
      assert.equal(await exited, 0);
      assert.equal(await againExit, 0);
    } finally {
      supervisor.kill();
    }
  });
});

describe("shellQuote", () => {
  test("every nasty string comes back unchanged through sh -c", () => {
    for (const word of [...nasty, "", " ", "'", "''", "a'b'c", "!", "#x", "\\", "\n", "--", "a=b", "%s"]) {
      const result = spawnSync("/bin/sh", ["-c", `printf %s ${shellQuote(word)}`], { encoding: "utf8" });
      assert.equal(result.stdout, word, `shellQuote(${JSON.stringify(word)}) = ${shellQuote(word)}`);
    }
  });

  test("shellJoin keeps word boundaries", () => {
    const words = ["a b", "", "c'd", "$e"];
    const result = spawnSync("/bin/sh", ["-c", `${shellJoin(["printf", "[%s]", ...words])}`], { encoding: "utf8" });
    assert.equal(result.stdout, "[a b][][c'd][$e]");
  });
});

describe("generateServiceFiles", () => {
  test("picks launchd on darwin, systemd on linux, and only commands for tmux", () => {
    const mac = generateServiceFiles(spec(), { platform: "darwin", home: "/Users/me" });
    assert.match(mac.files[0]!.path, /LaunchAgents\/dev\.pi-gateway\.agent\.plist$/);
    assert.equal(mac.commands[0], `mkdir -p ${shellQuote(join(scratch, "logs"))}`);
    const linux = generateServiceFiles(spec(), { platform: "linux", home: "/home/me" });
    assert.match(linux.files[0]!.path, /systemd\/user\/dev\.pi-gateway\.agent\.service$/);
    assert.ok(linux.commands.includes("systemctl --user enable --now dev.pi-gateway.agent.service"));
    const tmuxOnly = generateServiceFiles(spec({ mode: "tmux-pi" }), { platform: "linux", manager: "tmux", home: "/home/me" });
    assert.deepEqual(tmuxOnly.files, []);
    assert.equal(tmuxOnly.commands.length, 1);
    assert.match(tmuxOnly.commands[0]!, /^tmux -L pi-gateway new-session -d -s agent /);
    assert.throws(() => generateServiceFiles(spec(), { platform: "linux", manager: "launchd", home: "/h" }), /macOS/);
  });
});

function readFileSafe(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8") || undefined;
  } catch {
    return undefined;
  }
}
