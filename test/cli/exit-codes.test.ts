/**
 * Exit statuses as documented (README "Exit codes", `pi-gateway --help`): 0 success, 1 failure,
 * 2 usage error, 3 Redis unreachable. Usage errors are one line, like every other error; a bad
 * Redis URL is refused before anything connects, naming the flag or variable it came from.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { CLI_BIN, runCli } from "../helpers/cli.js";
import { freePort } from "../helpers/redis-server.js";

const home = mkdtempSync(join(tmpdir(), "pigw-exit-"));
const baseEnv = { GATEWAY_ENV_FILE: "none", HOME: home, GATEWAY_TOKEN: "exit-codes-test-token-0123456789" };
const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, { env: { ...baseEnv, ...env } });

function assertOneLine(stderr: string, message: RegExp, what: string): void {
  const lines = stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `${what}: one line, got ${stderr}`);
  assert.match(lines[0]!, /^pi-gateway: /, what);
  assert.match(lines[0]!, message, what);
}

describe("exit status 2: usage errors", () => {
  test("unknown flag, unknown command, missing argument or option value, extra argument: one line", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["--bogus"], /unknown option '--bogus' \(add --help for usage\)$/],
      [["push", "x", "--bogus"], /unknown option '--bogus'/],
      [["security", "audit", "--bogus"], /unknown option '--bogus'/],
      [["nosuch"], /unknown command 'nosuch'/],
      // commander's suggestion reads as part of the sentence, not after a ⏎ of a flattened newline
      [["pusj"], /^pi-gateway: unknown command 'pusj' \(did you mean push\?\) \(add --help for usage\)$/],
      [["push"], /missing required argument 'type'/],
      [["tail", "-n"], /option '-n, --lines <count>' argument missing/],
      [["status", "extra"], /too many arguments for 'status'/],
    ];
    for (const [args, message] of cases) {
      const result = await cli(args);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assertOneLine(result.stderr, message, args.join(" "));
      assert.equal(result.stdout, "");
    }
  });

  test("bad flag and setting values, named", async () => {
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [["--timeout", "soon", "status"], {}, /--timeout="soon" is not a duration \(expected e\.g\. 500ms, 30s, 15m, 2h\)/],
      [["push", "x", "--retry", "soon"], {}, /--retry="soon" is not a duration/],
      [["doctor", "--wait", "soon"], {}, /--wait="soon" is not a duration/],
      [["heartbeat", "--interval", "soon"], {}, /--interval="soon" is not a duration/],
      [["status"], { GATEWAY_LEASE: "soon" }, /GATEWAY_LEASE="soon" is not a duration/],
      [["push", "x"], { GATEWAY_PUSH_RETRY: "soon" }, /GATEWAY_PUSH_RETRY="soon" is not a duration/],
    ];
    for (const [args, env, message] of cases) {
      const result = await cli(args, { REDIS_URL: `redis://127.0.0.1:${await freePort()}`, ...env });
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assertOneLine(result.stderr, message, args.join(" "));
    }
  });

  test("--json: a usage error is the {error, code} object on stdout", async () => {
    const result = await cli(["--json", "push", "x", "--bogus"]);
    assert.equal(result.code, 2);
    assert.deepEqual(JSON.parse(result.stdout), { error: "unknown option '--bogus' (add --help for usage)", code: "USAGE" });
  });

  test("no command at all: the help on stderr, status 2", async () => {
    const result = await cli([]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^Usage: pi-gateway \[options\] \[command\]/);
  });
});

describe("exit status 0 and 1", () => {
  test("--help (with the exit status table), help, --version, a command's --help: 0", async () => {
    const help = await cli(["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Exit status:\n {2}0 {2}success\n {2}1 {2}failure.*\n {2}2 {2}usage error.*\n {2}3 {2}Redis unreachable/);
    for (const args of [["help"], ["--version"], ["push", "--help"], ["security", "audit", "--help"]]) {
      assert.equal((await cli(args)).code, 0, args.join(" "));
    }
  });

  test("a reader that goes away (`pi-gateway --help | head -1`): 0 and no stack trace", async () => {
    // The read end is closed before the process has started, so its first write meets EPIPE.
    const child = spawn(process.execPath, [CLI_BIN, "--help"], { env: { ...process.env, ...baseEnv }, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.destroy();
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(child, "exit")) as [number | null];
    assert.equal(stderr, "");
    assert.equal(code, 0);
  });

  test("package.json's bin is the bundled CLI, and it runs", async () => {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { bin: Record<string, string> };
    assert.equal(new URL(`../../${pkg.bin["pi-gateway"]}`, import.meta.url).pathname, CLI_BIN);
    assert.ok(statSync(CLI_BIN).mode & 0o100, "executable");
    assert.match(readFileSync(CLI_BIN, "utf8"), /^#!\/usr\/bin\/env node\n/);
  });

  test("a failure that is neither usage nor Redis: 1, one line", async () => {
    const result = await cli(["chat", "--message", "hi", "--url", `ws://127.0.0.1:${await freePort()}/ws`, "--token", "x"]);
    assert.equal(result.code, 1);
    assertOneLine(result.stderr, /cannot connect to ws:\/\/127\.0\.0\.1:\d+\/ws: connection refused/, "chat");
  });
});

describe("a bad Redis URL is refused before any connection, naming where it came from", () => {
  let listener: Server;
  let port: number;
  let connections = 0;
  const sockets: Socket[] = [];
  before(async () => {
    // Would see any connection attempt the refused URLs below point at.
    listener = createServer((socket) => {
      connections++;
      sockets.push(socket);
    });
    await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
    port = (listener.address() as { port: number }).port;
  });
  after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => listener.close(resolve));
  });

  test("--redis-url: another scheme, a bad port, empty; every command that uses Redis", async () => {
    const commands = [
      ["status"],
      ["sessions"],
      ["tail"],
      ["dead-letters"],
      ["doctor"],
      ["heartbeat", "--once"],
      ["daemon", "--port", "0"],
      ["push", "x"],
      ["setup", "--dry-run", "--yes"],
      ["heartbeat", "--print-crontab"],
    ];
    const urls: Array<[string, RegExp]> = [
      [
        `http://127.0.0.1:${port}`,
        /^pi-gateway: --redis-url="http:\/\/127\.0\.0\.1:\d+" has the scheme http:\/\/, not redis:\/\/ or rediss:\/\/ \(expected redis:\/\/\[user:password@\]host:port\[\/db\] or rediss:\/\/… for TLS\)$/,
      ],
      [`redis://127.0.0.1:${port}x`, /^pi-gateway: --redis-url=".*" has port "\d+x", not a number from 1 to 65535 \(expected redis:\/\//],
      ["", /^pi-gateway: --redis-url="" is empty \(expected redis:\/\//],
    ];
    for (const [url, message] of urls) {
      for (const args of commands) {
        const result = await cli(["--redis-url", url, ...args]);
        assert.equal(result.code, 2, `${url} ${args.join(" ")}: ${result.stderr}`);
        assertOneLine(result.stderr, message, `${url} ${args.join(" ")}`);
      }
    }
    assert.equal(connections, 0, "nothing connected anywhere");
  });

  test("REDIS_URL: garbage, :notaport, :99999 name the variable; the password is never shown", async () => {
    const cases: Array<[string, RegExp]> = [
      ["garbage", /^pi-gateway: REDIS_URL="garbage" is not a URL \(expected redis:\/\//],
      [
        "redis://:hunter2@127.0.0.1:notaport",
        /^pi-gateway: REDIS_URL="redis:\/\/:\*\*\*@127\.0\.0\.1:notaport" has port "notaport", not a number from 1 to 65535 \(expected/,
      ],
      ["redis://127.0.0.1:99999", /^pi-gateway: REDIS_URL=".*" has port "99999", not a number from 1 to 65535 \(expected/],
      [
        `https://:hunter2@127.0.0.1:${port}`,
        /^pi-gateway: REDIS_URL="https:\/\/:\*\*\*@127\.0\.0\.1:\d+" has the scheme https:\/\/, not redis:\/\/ or rediss:\/\/ \(expected/,
      ],
    ];
    for (const [url, message] of cases) {
      for (const args of [["status"], ["push", "x"]]) {
        const result = await cli(args, { REDIS_URL: url });
        assert.equal(result.code, 2, `${url}: ${result.stderr}`);
        assertOneLine(result.stderr, message, url);
        assert.doesNotMatch(result.stderr, /hunter2/);
      }
    }
    const json = await cli(["status", "--json"], { REDIS_URL: "redis://h:notaport" });
    assert.equal((JSON.parse(json.stdout) as { code: string }).code, "CONFIG");
    assert.equal(connections, 0);
  });
});
