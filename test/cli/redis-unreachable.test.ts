/**
 * Redis not there: every command that needs it ends fast with one line saying what it tried (the
 * redacted URL), why, and what to do, and exits 3. Two ways of "not there": nothing listening
 * (refused) and a port that accepts TCP but never answers (timeout). `push` says so at once, keeps
 * its retry window, then ends with the same hint.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { runCli, CLI_BIN } from "../helpers/cli.js";
import { freePort, startRedis, type RedisServer } from "../helpers/redis-server.js";

/** The promised bound for every command, from start to exit. */
const BOUND_MS = 2_000;

let closedPort: number;
let silent: Server;
let silentPort: number;
const silentSockets: Socket[] = [];
/**
 * How much slower than an idle machine (about 400ms) node starts the CLI right now, measured just
 * before each timed run: on shared cores the start-up can double, which says nothing about how
 * fast the command gives up on Redis. Added to the bounds.
 */
let loadAllowanceMs = 0;
async function measureLoad(): Promise<number> {
  const started = Date.now();
  await runCli(["--version"]);
  return Math.max(0, Date.now() - started - 400);
}
const home = mkdtempSync(join(tmpdir(), "pigw-unreachable-"));

before(async () => {
  closedPort = await freePort();
  // Accepts connections and never says a word: a frozen Redis, or another service on the port.
  silent = createServer((socket) => silentSockets.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  silentPort = (silent.address() as { port: number }).port;
});
after(async () => {
  for (const socket of silentSockets) socket.destroy();
  await new Promise((resolve) => silent.close(resolve));
});

/** Runs the built CLI; records when the first stderr output came and when it exited. */
async function timedRun(args: string[], env: Record<string, string> = {}) {
  const before = await measureLoad();
  const result = await run(args, env);
  // The slower of just before and just after: load on shared cores comes and goes.
  loadAllowanceMs = Math.max(before, await measureLoad());
  return result;
}

function run(args: string[], env: Record<string, string>) {
  return new Promise<{ code: number; stdout: string; stderr: string; ms: number; firstStderrMs: number }>((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [CLI_BIN, ...args], {
      env: { ...process.env, GATEWAY_ENV_FILE: "none", HOME: home, GATEWAY_TOKEN: "unreachable-test-token-0123456789", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let firstStderrMs = -1;
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => {
      if (firstStderrMs < 0) firstStderrMs = Date.now() - started;
      stderr += d.toString();
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`pi-gateway ${args.join(" ")} still running after 40s; stderr=${stderr}`));
    }, 40_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - started, firstStderrMs });
    });
  });
}

const COMMANDS: string[][] = [
  ["status"],
  ["sessions"],
  ["tail"],
  ["tail", "--follow"],
  ["dead-letters"],
  ["heartbeat", "--once"],
  ["heartbeat", "--interval", "1m"],
  ["daemon", "--port", "0"],
];

const CASES = [
  {
    name: "nothing listening (refused)",
    why: /refused the connection/,
    url: () => `redis://:hunter2@127.0.0.1:${closedPort}`,
    line: () =>
      new RegExp(
        `^pi-gateway: Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${closedPort} refused the connection( \\([^)]*\\))?: start it \\(redis-server --appendonly yes, or pi-gateway daemon, which starts its own\\) or set REDIS_URL / --redis-url`,
      ),
  },
  {
    name: "a port that never answers (timeout)",
    why: /did not answer within 1s/,
    url: () => `redis://:hunter2@127.0.0.1:${silentPort}`,
    line: () =>
      new RegExp(
        `^pi-gateway: Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${silentPort} did not answer within 1s( \\([^)]*\\))?: check that Redis .* or set REDIS_URL / --redis-url`,
      ),
  },
];

for (const c of CASES) {
  describe(`Redis unreachable, ${c.name}`, () => {
    for (const args of COMMANDS) {
      test(`${args.join(" ")}: one line within ${BOUND_MS / 1000}s, exit 3, no password shown`, async () => {
        const result = await timedRun(["--redis-url", c.url(), ...args]);
        assert.equal(result.code, 3, result.stderr);
        const lines = result.stderr.trimEnd().split("\n");
        assert.equal(lines.length, 1, `one line: ${result.stderr}`);
        assert.match(lines[0]!, c.line());
        assert.doesNotMatch(result.stderr + result.stdout, /hunter2/);
        assert.ok(result.ms < BOUND_MS + loadAllowanceMs, `ended after ${result.ms}ms (allowance ${loadAllowanceMs}ms)`);
      });
    }

    test("doctor: the Redis check says why and what to do, within the bound, exit 3", async () => {
      const result = await timedRun(["--redis-url", c.url(), "doctor", "--home", home]);
      assert.equal(result.code, 3, result.stderr);
      assert.match(result.stdout, /✘ Redis reachable: Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ (refused the connection|did not answer within 1s)\n\s+fix: /);
      assert.ok(result.ms < BOUND_MS + loadAllowanceMs, `ended after ${result.ms}ms`);
    });

    test("push: says so on stderr within 1s, keeps its retry window, ends with the same hint", async () => {
      const result = await timedRun(["--redis-url", c.url(), "push", "job.done"], { GATEWAY_PUSH_RETRY: "2s" });
      assert.equal(result.code, 3, result.stderr);
      const [notice, final, ...rest] = result.stderr.trimEnd().split("\n");
      assert.deepEqual(rest, []);
      assert.ok(result.firstStderrMs >= 0 && result.firstStderrMs < 1_000 + loadAllowanceMs, `notice after ${result.firstStderrMs}ms`);
      assert.match(
        notice!,
        /^pi-gateway: Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ (refused the connection|did not answer); retrying for 2s \(GATEWAY_PUSH_RETRY\)…$/,
      );
      assert.ok(result.ms >= 2_000, `it kept trying for the window (ended after ${result.ms}ms)`);
      assert.match(final!, /\(kept trying for 2s, the GATEWAY_PUSH_RETRY window; nothing sent\): (start it|check that Redis)/);
      assert.match(final!, c.why);
    });
  });
}

describe("push: what retrying cannot fix, and where the window comes from", () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis({ password: "right-one" });
  });
  after(async () => {
    await redis.stop();
  });

  test("a wrong password is not retried: one line at once, exit 3", async () => {
    const result = await timedRun(["push", "job.done", "--retry", "20s"], { REDIS_URL: redis.url.replace("right-one", "wrong-one") });
    assert.equal(result.code, 3, result.stderr);
    assert.match(
      result.stderr.trim(),
      /^pi-gateway: Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ refused the credentials \(WRONGPASS[^)]*\): check the password in the URL/,
    );
    assert.equal(result.stderr.trim().split("\n").length, 1);
    assert.ok(result.ms < BOUND_MS + loadAllowanceMs, `ended after ${result.ms}ms, without using the 20s window`);
  });

  test("--retry names itself as the window; --retry 0s fails at once without a notice; --json keeps stdout JSON", async () => {
    const flagged = await timedRun(["--redis-url", `redis://127.0.0.1:${closedPort}`, "push", "x", "--retry", "1s"]);
    assert.match(flagged.stderr, /retrying for 1s \(--retry\)…\n.*kept trying for 1s, the --retry window/);
    const once = await timedRun(["--redis-url", `redis://127.0.0.1:${closedPort}`, "push", "x", "--retry", "0s", "--json"]);
    assert.equal(once.code, 3);
    assert.equal(once.stderr, "");
    const error = JSON.parse(once.stdout) as { error: string; code: string };
    assert.equal(error.code, "REDIS_UNREACHABLE");
    assert.match(error.error, /refused the connection( \\([^)]*\\))?: start it/);
  });
});
