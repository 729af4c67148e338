import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { GatewayBus } from "../../src/bus/bus.js";
import { runCli, CLI_BIN } from "../helpers/cli.js";
import { freePort, type RedisServer } from "../helpers/redis-server.js";
import { useRedisBus } from "../helpers/redis-bus.js";
import { waitFor } from "../helpers/wait.js";
import { spawn } from "node:child_process";

let redis: RedisServer;
let bus: GatewayBus;
let env: Record<string, string>;

useRedisBus({ flushEach: true }, (r, b) => {
  redis = r;
  bus = b;
  env = { REDIS_URL: redis.url, GATEWAY_SESSION_ID: "" };
});

describe("pi-gateway push", () => {
  test("pushes with payload from a flag, a file and stdin; --json reports the sessions", async () => {
    await bus.register({ id: "gateway", role: "central", durable: true, instance: "x" });
    const flag = await runCli(["push", "download.complete", "--payload", '{"file":"a.mp4"}', "--json"], { env });
    assert.equal(flag.code, 0, flag.stderr);
    const out = JSON.parse(flag.stdout) as { status: string; sessions: string[]; id: string };
    assert.equal(out.status, "pushed");
    assert.deepEqual(out.sessions, ["gateway"]);

    const dir = mkdtempSync(join(tmpdir(), "pigw-cli-"));
    writeFileSync(join(dir, "p.json"), '{"from":"file"}');
    assert.equal((await runCli(["push", "a.file", "--payload", `@${join(dir, "p.json")}`], { env })).code, 0);
    assert.equal((await runCli(["push", "a.stdin", "--payload", "-"], { env, input: '{"from":"stdin"}' })).code, 0);

    const claimed = await bus.claim("gateway");
    assert.deepEqual(
      claimed.events.map((e) => [e.type, e.payload]),
      [
        ["download.complete", { file: "a.mp4" }],
        ["a.file", { from: "file" }],
        ["a.stdin", { from: "stdin" }],
      ],
    );
  });

  test("GATEWAY_SESSION_ID makes the session the origin, so a satellite's job reports back to it", async () => {
    await bus.register({ id: "pid-7", role: "satellite", durable: false, instance: "x" });
    const result = await runCli(["push", "job.done", "--json"], { env: { ...env, GATEWAY_SESSION_ID: "pid-7" } });
    assert.deepEqual((JSON.parse(result.stdout) as { sessions: string[] }).sessions, ["pid-7"]);
  });

  test("bad input: one clear line and a non-zero exit", async () => {
    const cases: Array<[string[], RegExp, number]> = [
      [["push", "x", "--payload", "{nope"], /payload from --payload is not valid JSON/, 2],
      [["push", "x", "--payload", "@/does/not/exist.json"], /cannot read payload file \/does\/not\/exist.json: ENOENT/, 2],
      [["push", "has space"], /invalid event: type: type must be a dotted name/, 2],
      [["push", "x", "--target", "ghost"], /unknown session "ghost" \(registered: none\)/, 1],
    ];
    for (const [args, message, code] of cases) {
      const result = await runCli(args, { env });
      assert.equal(result.code, code, `${args.join(" ")}: ${result.stderr}`);
      const lines = result.stderr.trim().split("\n");
      assert.equal(lines.length, 1, `one line for ${args.join(" ")}: ${result.stderr}`);
      assert.match(lines[0]!, message);
      assert.match(lines[0]!, /^pi-gateway: /);
    }
    assert.equal(await bus.pending("main"), 0, "nothing was pushed by the failed commands");
  });

  test("unreachable Redis: clear error, --json error object, non-zero exit", async () => {
    const port = await freePort();
    const result = await runCli(["status", "--timeout", "1s"], { env: { REDIS_URL: `redis://:secret@127.0.0.1:${port}` } });
    assert.equal(result.code, 3);
    assert.match(result.stderr, new RegExp(`^pi-gateway: Redis at redis://:\\*\\*\\*@127.0.0.1:${port} refused the connection: start it`));
    assert.doesNotMatch(result.stderr, /secret/);
    const json = await runCli(["push", "x", "--json", "--retry", "0s", "--timeout", "1s"], { env: { REDIS_URL: `redis://127.0.0.1:${port}` } });
    assert.equal(json.code, 3);
    assert.equal((JSON.parse(json.stdout) as { code: string }).code, "REDIS_UNREACHABLE");
  });

  test("a push issued while Redis is down lands once Redis is back (retry with the same id)", async () => {
    await redis.kill("SIGKILL");
    const started = Date.now();
    const pending = runCli(["push", "late.event", "--json", "--retry", "20s"], { env });
    await new Promise((r) => setTimeout(r, 1500));
    await redis.restart();
    const result = await pending;
    assert.equal(result.code, 0, result.stderr);
    const out = JSON.parse(result.stdout) as { status: string; attempts: number };
    assert.equal(out.status, "pushed");
    assert.ok(Date.now() - started >= 1500, "it waited for Redis instead of failing");
    await waitFor(() => bus.pending("main").catch(() => 0), "event queued after restart");
  });
});

describe("pi-gateway status, sessions, tail, dead-letters", () => {
  test("status --json shows sessions, backlog, dead letters", async () => {
    await bus.register({ id: "gateway", role: "central", durable: true, instance: "x" });
    await runCli(["push", "a.b"], { env });
    await bus.client.lpush("agent:events:main", "garbage");
    await bus.claim("main");
    const result = await runCli(["status", "--json"], { env });
    assert.equal(result.code, 0, result.stderr);
    const status = JSON.parse(result.stdout) as {
      ok: boolean;
      backlog: Record<string, number>;
      deadLetters: number;
      sessions: Array<{ id: string; role: string; live: boolean }>;
    };
    assert.equal(status.ok, true);
    assert.deepEqual(status.backlog, { gateway: 1, main: 0 });
    assert.equal(status.deadLetters, 1);
    assert.deepEqual(
      status.sessions.map((s) => [s.id, s.role, s.live]),
      [["gateway", "central", true]],
    );
    const human = await runCli(["status"], { env });
    assert.match(human.stdout, /dead letters 1/);
    assert.match(human.stdout, /gateway\s+central\s+live\s+1/);

    const letters = await runCli(["dead-letters", "--json"], { env });
    assert.match((JSON.parse(letters.stdout) as { deadLetters: Array<{ reason: string }> }).deadLetters[0]!.reason, /not JSON/);
  });

  test("sessions lists the registry; tail shows and follows the journal", async () => {
    await bus.register({ id: "gateway", role: "central", durable: true, instance: "x" });
    const sessions = await runCli(["sessions"], { env });
    assert.match(sessions.stdout, /^SESSION\s+ROLE\s+STATE/m);
    assert.match(sessions.stdout, /gateway\s+central\s+live/);

    await runCli(["push", "first.one"], { env });
    const tail = await runCli(["tail", "--json"], { env });
    const entries = tail.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { kind: string; type: string });
    assert.deepEqual(
      entries.map((e) => [e.kind, e.type]),
      [["pushed", "first.one"]],
    );

    const follower = spawn(process.execPath, [CLI_BIN, "tail", "--follow", "-n", "0"], { env: { ...process.env, ...env } });
    let out = "";
    follower.stdout.on("data", (d: Buffer) => (out += d.toString()));
    try {
      await new Promise((r) => setTimeout(r, 700));
      await runCli(["push", "second.one"], { env });
      await waitFor(() => /pushed\s+second\.one \(cli\)/.test(out), "tail --follow to print the new push");
    } finally {
      follower.kill("SIGINT");
    }
  });
});
