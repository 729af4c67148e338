/**
 * The daemon with nothing but redis-server installed: with REDIS_URL unset and nothing at the
 * default address it starts its own redis-server, every other command finds it, it never outlives
 * the daemon, and a restart after kill -9 reuses its data. The probed default address is
 * GATEWAY_DEFAULT_REDIS_URL here (a free port): these tests never touch the real Redis on 6379.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, describe, test } from "node:test";
import { defaultRedisUrl } from "../../src/config/bus-options.js";
import { embeddedRedisRecordFile, gatewayStateDir, runningEmbeddedRedis } from "../../src/config/embedded-redis-record.js";
import { processAlive } from "../../src/util/process.js";
import { runCli } from "../helpers/cli.js";
import { startDaemon, type DaemonProcess } from "../helpers/daemon.js";
import { startFakeLlm, type FakeLlm } from "../helpers/fake-llm.js";
import { createPiEnv, type PiEnv } from "../helpers/pi-env.js";
import { freePort, startRedis, type RedisServer } from "../helpers/redis-server.js";
import { waitFor } from "../helpers/wait.js";

const TOKEN = "embedded-redis-test-token-0123456789";

let llm: FakeLlm;
let piEnv: PiEnv;
let env: Record<string, string>;
const running: DaemonProcess[] = [];

before(async () => {
  llm = await startFakeLlm();
  llm.setResponder(() => ({ text: "ok" }));
});
after(async () => {
  await llm.close();
});
beforeEach(async () => {
  piEnv = createPiEnv({ llmUrl: llm.url });
  env = {
    ...piEnv.env,
    // Unset for the gateway (empty counts as unset), whatever the developer's shell has.
    REDIS_URL: "",
    XDG_STATE_HOME: "",
    GATEWAY_ENV_FILE: "none",
    GATEWAY_DEFAULT_REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
    GATEWAY_TOKEN: TOKEN,
    GATEWAY_LOG_LEVEL: "warn",
  };
});
afterEach(async () => {
  for (const d of running.splice(0)) await d.stop();
  // Whatever a failed test left behind: never leak a redis-server.
  const record = readRecord();
  if (record && processAlive(record.pid)) process.kill(record.pid, "SIGKILL");
  piEnv.cleanup();
});

async function daemon(extra: Record<string, string> = {}): Promise<DaemonProcess> {
  const d = await startDaemon({ ...env, ...extra }, ["--cwd", piEnv.cwd]);
  running.push(d);
  return d;
}

function readRecord(): { url: string; pid: number; dataDir: string } | undefined {
  const file = embeddedRedisRecordFile(env);
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as { url: string; pid: number; dataDir: string }) : undefined;
}

/** Field 5 of /proc/<pid>/stat (after the parenthesised command name, which may contain spaces). */
function processGroup(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
}

const dataDir = () => join(piEnv.home, ".local", "state", "pi-gateway", "redis");

describe("embedded Redis", () => {
  test("starts when the default address does not answer; status and push find it with no configuration; Ctrl-C ends it", async () => {
    const d = await daemon();
    const record = readRecord();
    assert.ok(record, "the daemon left its Redis's address in the state dir");
    const firstLine = d.output().split("\n")[0]!;
    assert.equal(firstLine, `no Redis at ${env.GATEWAY_DEFAULT_REDIS_URL}; started an embedded redis-server on ${record.url} (data in ${dataDir()})`);
    assert.ok(processAlive(record.pid));
    assert.match(readFileSync(`/proc/${record.pid}/cmdline`, "utf8"), /redis-server.*127\.0\.0\.1/, "bound to loopback");
    // Not in the daemon's process group: a terminal's Ctrl-C (sent to the whole group) must not stop
    // Redis under a turn that is still finishing.
    assert.notEqual(processGroup(record.pid), processGroup(d.child.pid!));

    const status = await runCli(["status", "--json"], { env });
    assert.equal(status.code, 0, status.stderr);
    const redis = (JSON.parse(status.stdout) as { redis: { url: string; aof: boolean; appendfsync: string } }).redis;
    assert.deepEqual(redis.url, record.url);
    assert.equal(redis.aof, true);
    assert.equal(redis.appendfsync, "always");
    const push = await runCli(["push", "embedded.test", "--id", "emb-1"], { env });
    assert.equal(push.code, 0, push.stderr);
    const tail = await runCli(["tail", "-n", "20", "--json"], { env });
    assert.match(tail.stdout, /emb-1/);

    // Ctrl-C: the terminal's SIGINT reaches the daemon, which stops its Redis after its own shutdown.
    const stopping = Date.now();
    const exit = new Promise<number | null>((resolve) => d.child.once("exit", resolve));
    d.child.kill("SIGINT");
    assert.equal(await exit, 0);
    assert.ok(Date.now() - stopping < 5_000, `the daemon took ${Date.now() - stopping}ms to exit`);
    assert.equal(processAlive(record.pid), false, "redis-server stopped with the daemon");
    assert.equal(readRecord(), undefined, "the record is gone with it");
    assert.ok(existsSync(join(dataDir(), "appendonlydir")), "AOF files stay for the next start");
  });

  test("kill -9 of the daemon takes its redis-server along; the restart reuses the data", async () => {
    const first = await daemon();
    const old = readRecord()!;
    const push = await runCli(["push", "survives.restart", "--id", "keep-me"], { env });
    assert.equal(push.code, 0, push.stderr);
    await first.kill();
    // Restart at once: the old redis-server may still be shutting down on the same port and data.
    const second = await daemon();
    await waitFor(() => !processAlive(old.pid), "the old redis-server to be gone", 5_000);
    const now = readRecord()!;
    assert.notEqual(now.pid, old.pid);
    const tail = await runCli(["tail", "-n", "50", "--json"], { env });
    assert.equal(tail.code, 0, tail.stderr);
    assert.match(tail.stdout, /keep-me/, "the journal entry written before the kill is still there (AOF)");
    await second.kill();
    await waitFor(() => !processAlive(now.pid), "redis-server to follow the killed daemon", 5_000);
    assert.equal(runningEmbeddedRedis(env), undefined, "commands no longer point at it");
  });

  test("a leftover redis-server still running on the data dir (its daemon and watcher gone) is replaced, its data kept", { timeout: 60_000 }, async () => {
    mkdirSync(dataDir(), { recursive: true });
    const port = await freePort();
    const orphan = spawn(
      "redis-server",
      [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        dataDir(),
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--save",
        "",
        "--pidfile",
        join(dataDir(), "redis.pid"),
        "--logfile",
        join(dataDir(), "redis.log"),
      ],
      { detached: true, stdio: "ignore" },
    );
    orphan.unref();
    const url = `redis://127.0.0.1:${port}`;
    await waitFor(() => existsSync(join(dataDir(), "redis.pid")), "the orphan's pidfile");
    writeFileSync(embeddedRedisRecordFile(env), JSON.stringify({ url, pid: orphan.pid, daemonPid: 2 ** 22 + 4321, dataDir: dataDir(), startedAt: 1 }));
    const push = await runCli(["push", "before.replace", "--id", "orphan-data"], { env });
    assert.equal(push.code, 0, push.stderr);

    await daemon();
    assert.equal(processAlive(orphan.pid!), false, "the leftover was stopped");
    assert.notEqual(readRecord()!.pid, orphan.pid);
    const tail = await runCli(["tail", "-n", "20", "--json"], { env });
    assert.match(tail.stdout, /orphan-data/, "its data is the new one's");
  });

  test("if the embedded redis-server dies, the daemon says so and exits non-zero (its supervisor restarts both)", { timeout: 30_000 }, async () => {
    const d = await daemon();
    process.kill(readRecord()!.pid, "SIGKILL");
    const code = await new Promise<number | null>((resolve) => d.child.once("exit", resolve));
    assert.equal(code, 1);
    assert.match(d.output(), /pi-gateway daemon: embedded redis-server exited \(status \d+\); see .*redis\.log; shutting down/);
  });

  test("stopped together with its redis-server (systemd's control-group stop): a clean exit, no alarm", { timeout: 30_000 }, async () => {
    const d = await daemon();
    const exit = new Promise<number | null>((resolve) => d.child.once("exit", resolve));
    d.child.kill("SIGTERM");
    process.kill(readRecord()!.pid, "SIGTERM");
    assert.equal(await exit, 0);
    assert.doesNotMatch(d.output(), /embedded redis-server exited/);
  });

  test("setup without REDIS_URL writes none, so the daemon service it installs can start its own Redis", async () => {
    const args = [
      "setup",
      "--tier",
      "4",
      "--source",
      "cron",
      "--sessions",
      "one",
      "--yes",
      "--service",
      "systemd",
      "--platform",
      "linux",
      "--dry-run",
      "--home",
      piEnv.home,
    ];
    const unset = await runCli(args, { env });
    assert.equal(unset.code, 0, unset.stderr);
    assert.doesNotMatch(unset.stdout, /REDIS_URL=/);
    const named = await runCli(args, { env: { ...env, REDIS_URL: "redis://127.0.0.1:6390" } });
    assert.match(named.stdout, /^REDIS_URL=redis:\/\/127\.0\.0\.1:6390$/m, "a Redis the user named is kept");
  });

  test("a start that fails later (web port in use) exits at once and stops its redis-server", { timeout: 30_000 }, async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    try {
      const port = String((busy.address() as AddressInfo).port);
      const result = await runCli(["daemon", "--port", port, "--cwd", piEnv.cwd], { env });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /cannot listen on 127\.0\.0\.1:\d+: the port is in use/);
      assert.match(result.stdout, /started an embedded redis-server/);
      assert.equal(readRecord(), undefined, "its Redis stopped with it");
    } finally {
      busy.close();
    }
  });

  test("a second daemon joins the running one's embedded Redis: refused by the session id's owner, or beside it under another GATEWAY_ID", async () => {
    const first = await daemon();
    const second = await runCli(["daemon", "--port", "0", "--cwd", piEnv.cwd], { env });
    assert.equal(second.code, 1);
    assert.match(second.stdout, /using the embedded redis-server of daemon pid \d+ at redis:\/\/127\.0\.0\.1:\d+/);
    assert.match(second.stderr, /^pi-gateway: session id "gateway" is held by daemon pid \d+/);
    assert.ok(readRecord() && processAlive(readRecord()!.pid), "the first one's Redis still runs");
    const other = await daemon({ GATEWAY_ID: "second" });
    assert.match(other.output(), /using the embedded redis-server of daemon pid/);
    assert.doesNotMatch(other.output(), /started an embedded/);
    const sessions = await runCli(["sessions", "--json"], { env });
    const ids = (JSON.parse(sessions.stdout) as { sessions: Array<{ id: string; live: boolean }> }).sessions.filter((s) => s.live).map((s) => s.id);
    assert.deepEqual(ids.sort(), ["gateway", "second"]);
    assert.ok(first.child.exitCode === null, "the first daemon runs on");
  });

  test("no redis-server on PATH: fails within 2 s naming the package", async () => {
    const emptyBin = mkdtempSync(join(tmpdir(), "pigw-nobin-"));
    try {
      // A loaded machine starts every process slowly: the bound is 2 s or three bare starts of the CLI.
      let started = Date.now();
      await runCli(["--version"], { env: { ...env, PATH: emptyBin } });
      const bound = Math.max(2_000, 3 * (Date.now() - started));
      started = Date.now();
      const result = await runCli(["daemon", "--port", "0", "--cwd", piEnv.cwd], { env: { ...env, PATH: emptyBin } });
      const took = Date.now() - started;
      assert.equal(result.code, 1);
      assert.match(result.stderr, /no Redis at redis:\/\/127\.0\.0\.1:\d+, and redis-server is not installed/);
      assert.match(result.stderr, /apt-get install redis-server/);
      assert.match(result.stderr, /brew install redis/);
      assert.ok(took < bound, `failed after ${took}ms (bound ${bound}ms)`);
    } finally {
      rmSync(emptyBin, { recursive: true, force: true });
    }
  });

  test("an explicit REDIS_URL that does not answer is an error, never replaced by an embedded Redis", async () => {
    const unreachable = `redis://127.0.0.1:${await freePort()}`;
    for (const args of [[], ["--redis-url", unreachable]]) {
      const extra: Record<string, string> = args.length ? {} : { REDIS_URL: unreachable };
      const result = await runCli([...args, "daemon", "--port", "0", "--cwd", piEnv.cwd], { env: { ...env, ...extra, GATEWAY_CONNECT_TIMEOUT: "1s" } });
      assert.equal(result.code, 3, "Redis unreachable has its own exit status");
      assert.match(
        result.stderr,
        new RegExp(`Redis at ${unreachable} refused the connection \\(set by ${args.length ? "--redis-url" : "REDIS_URL"}; .*\\): start it`),
      );
      assert.doesNotMatch(result.stdout, /embedded/);
      assert.equal(existsSync(dataDir()), false, "no embedded redis-server was started");
    }
  });

  test("malformed GATEWAY_DEFAULT_REDIS_URL is refused with its name", async () => {
    const result = await runCli(["daemon", "--port", "0", "--cwd", piEnv.cwd], { env: { ...env, GATEWAY_DEFAULT_REDIS_URL: "not a url" } });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /GATEWAY_DEFAULT_REDIS_URL="not a url" is not a URL \(expected redis:\/\//);
    assert.equal(existsSync(dataDir()), false);
  });
});

describe("a Redis at the default address", () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis.stop();
  });

  test("is used as is: no embedded redis-server, and commands find it too", async () => {
    const d = await daemon({ GATEWAY_DEFAULT_REDIS_URL: redis.url });
    assert.doesNotMatch(d.output(), /embedded/);
    assert.equal(existsSync(dataDir()), false);
    const status = await runCli(["status", "--json"], { env: { ...env, GATEWAY_DEFAULT_REDIS_URL: redis.url } });
    assert.equal(status.code, 0, status.stderr);
    assert.equal((JSON.parse(status.stdout) as { redis: { url: string } }).redis.url, redis.url);
  });
});

describe("a Redis at the default address that wants a password", () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis({ password: "s3cret" });
  });
  after(async () => {
    await redis.stop();
  });

  test("is the user's Redis: an error saying to put the password in REDIS_URL, not a second Redis", async () => {
    const address = `redis://127.0.0.1:${redis.port}`;
    const result = await runCli(["daemon", "--port", "0", "--cwd", piEnv.cwd], { env: { ...env, GATEWAY_DEFAULT_REDIS_URL: address } });
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`the Redis at ${address} needs a password: set REDIS_URL=redis://:<password>@127\\.0\\.0\\.1:${redis.port}`));
    assert.equal(existsSync(dataDir()), false);
  });
});

describe("finding the embedded Redis (bus options)", () => {
  let home: string;
  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), "pigw-state-"));
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  const write = (record: unknown, base: Record<string, string> = { HOME: home }) => {
    const file = embeddedRedisRecordFile(base);
    mkdirSync(join(file, ".."), { recursive: true });
    writeFileSync(file, typeof record === "string" ? record : JSON.stringify(record));
  };
  const record = (pid: number) => ({ url: "redis://127.0.0.1:6380", pid, daemonPid: pid, dataDir: "/x", startedAt: 1 });

  test("REDIS_URL wins; unset or empty: a running embedded Redis, else the default address", () => {
    assert.equal(defaultRedisUrl({ HOME: home }), "redis://127.0.0.1:6379");
    assert.equal(defaultRedisUrl({ HOME: home, GATEWAY_DEFAULT_REDIS_URL: "" }), "redis://127.0.0.1:6379", "empty is unset");
    assert.equal(defaultRedisUrl({ HOME: home, GATEWAY_DEFAULT_REDIS_URL: "redis://127.0.0.1:1" }), "redis://127.0.0.1:1");
    write(record(process.pid));
    assert.equal(defaultRedisUrl({ HOME: home }), "redis://127.0.0.1:6380");
  });

  test("a record of a dead redis-server, a torn or foreign record are ignored", () => {
    write(record(2 ** 22 + 12345)); // above any pid_max: never a live process
    assert.equal(defaultRedisUrl({ HOME: home }), "redis://127.0.0.1:6379");
    write("{not json");
    assert.equal(defaultRedisUrl({ HOME: home }), "redis://127.0.0.1:6379");
    write({ ...record(process.pid), url: "redis://evil.example:6379" });
    assert.equal(defaultRedisUrl({ HOME: home }), "redis://127.0.0.1:6379", "only a loopback address is believed");
  });

  test("state dir: $XDG_STATE_HOME when absolute, else ~/.local/state", () => {
    assert.equal(gatewayStateDir({ HOME: home }), join(home, ".local", "state", "pi-gateway"));
    assert.equal(gatewayStateDir({ HOME: home, XDG_STATE_HOME: "" }), join(home, ".local", "state", "pi-gateway"));
    assert.equal(gatewayStateDir({ HOME: home, XDG_STATE_HOME: "relative/dir" }), join(home, ".local", "state", "pi-gateway"));
    assert.equal(gatewayStateDir({ HOME: home, XDG_STATE_HOME: "/var/state" }), join("/var/state", "pi-gateway"));
    write(record(process.pid), { HOME: home, XDG_STATE_HOME: join(home, "xdg") });
    assert.equal(defaultRedisUrl({ HOME: home, XDG_STATE_HOME: join(home, "xdg") }), "redis://127.0.0.1:6380");
  });
});
