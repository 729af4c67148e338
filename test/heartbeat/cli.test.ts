/** `pi-gateway heartbeat` through the built binary (run `npm run build` first). */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, test } from "node:test";
import { GatewayBus } from "../../src/bus/bus.js";
import { HEARTBEAT_EVENT_TYPE } from "../../src/protocol/event.js";
import { runCli, CLI_BIN } from "../helpers/cli.js";
import type { RedisServer } from "../helpers/redis-server.js";
import { useRedisBus } from "../helpers/redis-bus.js";
import { waitFor } from "../helpers/wait.js";

let redis: RedisServer;
let bus: GatewayBus;
let env: Record<string, string>;

useRedisBus({}, (r, b) => {
  redis = r;
  bus = b;
  env = { REDIS_URL: redis.url, GATEWAY_HEARTBEAT_INTERVAL: "" };
});
// The tests run concurrently (each spawns node, which is slow): each one uses its own key prefix.
describe("pi-gateway heartbeat", { concurrency: true }, () => {
  test("--once --json pushes one heartbeat and reports where it went", async () => {
    const first = await runCli(["heartbeat", "--once", "--json"], { env });
    assert.equal(first.code, 0, first.stderr);
    const out = JSON.parse(first.stdout) as { status: string; id: string; type: string; source: string; sessions: string[] };
    assert.equal(out.status, "pushed");
    assert.equal(out.type, HEARTBEAT_EVENT_TYPE);
    assert.equal(out.source, "pi-gateway");
    assert.deepEqual(out.sessions, ["main"]);

    await bus.register({ id: "gateway", role: "central", durable: true, instance: "x" });
    const second = await runCli(["heartbeat", "--once", "--source", "box-1"], { env: { ...env, GATEWAY_HEARTBEAT_INTERVAL: "5m" } });
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /^heartbeat [0-9a-f-]{36} -> gateway\n$/);

    const [main, central] = [await bus.claim("main"), await bus.claim("gateway")];
    assert.deepEqual(
      main.events.map((e) => e.id),
      [out.id],
    );
    assert.equal(central.events.length, 1);
    assert.equal(central.events[0]!.source, "box-1");
    assert.equal((central.events[0]!.payload as { interval: string }).interval, "5m", "GATEWAY_HEARTBEAT_INTERVAL is the default");
  });

  test("foreground: one JSON line per beat until SIGTERM, then exit 0", async () => {
    const child = spawn(process.execPath, [CLI_BIN, "heartbeat", "--interval", "1s", "--json", "--prefix", "fg"], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      await waitFor(() => stdout.includes('"kind":"beat"'), `a beat line (stdout=${stdout} stderr=${stderr})`, 15_000); // start-up takes seconds on a loaded 2-core machine
    } finally {
      child.kill("SIGTERM");
    }
    assert.equal(await exited, 0, stderr);
    const lines = stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { kind: string; schedule?: string; beats?: number; sessions?: string[] });
    assert.equal(lines[0]!.kind, "started");
    assert.equal(lines[0]!.schedule, "1s");
    assert.deepEqual(lines.find((l) => l.kind === "beat")!.sessions, ["main"]);
    const stopped = lines.at(-1)!;
    assert.equal(stopped.kind, "stopped");
    assert.equal(stopped.beats, lines.filter((l) => l.kind === "beat").length);
    assert.equal(await bus.client.llen("fg:events:main"), stopped.beats);
  });

  test("--print-crontab prints the redis-cli line, with the Redis URL and interval", async () => {
    const result = await runCli(["heartbeat", "--print-crontab", "--interval", "5m", "--redis-url", "redis://h:6380"], { env });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^\*\/5 \* \* \* \* redis-cli -u 'redis:\/\/h:6380' LPUSH agent:events:main /);
    assert.doesNotMatch(result.stdout, /uuidgen/);
    assert.match(result.stdout, /date \+\\%s000/);
  });

  test("bad flags: one clear line, exit 2, nothing pushed", async () => {
    // The validators themselves are covered in scheduler/crontab tests; this checks the CLI wiring.
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [["heartbeat", "--once", "--interval", "500ms"], {}, /heartbeat interval must be whole seconds, at least 1s \(got 500ms\)/],
      [["heartbeat", "--once", "--cron", "* * * * *", "--interval", "1m"], {}, /either --interval or --cron/],
      [
        ["heartbeat", "--once"],
        { GATEWAY_HEARTBEAT_INTERVAL: "often" },
        /GATEWAY_HEARTBEAT_INTERVAL="often" is not a duration \(expected e\.g\. 500ms, 30s, 15m, 2h\)$/,
      ],
      [["heartbeat", "--print-crontab", "--interval", "7m"], {}, /must be one of 1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60 minutes \(got 7\)/],
    ];
    const results = await Promise.all(cases.map(([args, extra]) => runCli([...args, "--prefix", "bad"], { env: { ...env, ...extra } })));
    results.forEach((result, i) => {
      const [args, , message] = cases[i]!;
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      const lines = result.stderr.trim().split("\n");
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0]!, /^pi-gateway: /);
      assert.match(lines[0]!, message);
    });
    assert.deepEqual(await bus.client.keys("bad:*"), [], "nothing was pushed");
  });
});
