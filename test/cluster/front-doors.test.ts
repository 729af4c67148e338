/**
 * The front doors on a real Redis Cluster. The CLI, the daemon and the extension in pi connect with a
 * cluster client and work (push, status and doctor name it "Redis Cluster (3 primaries)", the daemon
 * and the extension register their central session). test/cluster/extension-cluster.test.ts drives
 * events through the extension on a cluster.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import { runCli } from "../helpers/cli.js";
import { startDaemon } from "../helpers/daemon.js";
import { createPiEnv, startRpcPi, type RpcEvent } from "../helpers/pi-env.js";
import { startRedisCluster, type RedisCluster } from "../helpers/redis-cluster.js";
import { waitFor } from "../helpers/wait.js";

/** pi start to central on the cluster, on 2 shared cores. */
const BOUND_MS = 10_000;

let cluster: RedisCluster;
const home = mkdtempSync(join(tmpdir(), "pigw-cluster-doors-"));
const env = () => ({
  REDIS_URL: cluster.seeds[0]!,
  HOME: home,
  GATEWAY_ENV_FILE: "none",
  GATEWAY_TOKEN: "refuse-cluster-test-token-0123456789",
  GATEWAY_DEFAULT_REDIS_URL: cluster.seeds[1]!,
});

before(async () => {
  cluster = await startRedisCluster();
});
after(async () => {
  await cluster?.stop();
  rmSync(home, { recursive: true, force: true });
});

const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, { env: { ...env(), ...extra }, timeoutMs: 30_000 });

test("pi-gateway push, status and sessions work on a cluster; status names it", async () => {
  const pushed = await cli(["push", "build.done", "-p", "{}"]);
  assert.equal(pushed.code, 0, pushed.stderr);
  const status = await cli(["status"]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /^redis +redis:\/\/127\.0\.0\.1:\d+ \(Redis Cluster \(3 primaries\), v[\d.]+, /m);
  assert.match(status.stdout, /main/);
  const json = JSON.parse((await cli(["status", "--json"])).stdout) as { redis: { primaries: number }; backlog: Record<string, number> };
  assert.equal(json.redis.primaries, 3);
  assert.equal(json.backlog.main, 1);
  assert.equal((await cli(["sessions"])).code, 0);
});

test("doctor's Redis check names the cluster", async () => {
  const doctor = await cli(["doctor"]);
  assert.match(doctor.stdout, /Redis Cluster \(3 primaries\) [\d.]+ \(AOF/);
});

test("the daemon starts on a cluster and registers its central session; stops cleanly", async () => {
  // No turn is run: the LLM address is never used.
  const piEnv = createPiEnv({ llmUrl: "http://127.0.0.1:9" });
  const daemon = await startDaemon({ ...piEnv.env, ...env(), GATEWAY_LOG_LEVEL: "warn" }, ["--cwd", piEnv.cwd], 60_000);
  try {
    await waitFor(async () => /gateway +central/.test((await cli(["sessions"])).stdout), "the daemon's central session in `sessions`", 20_000);
  } finally {
    assert.equal(await daemon.stop(), 0, daemon.output());
    piEnv.cleanup();
  }
});

test("the extension in a real pi runs on it: registers the central session on a cluster client", async () => {
  const extension = new URL("../../dist/extension/index.js", import.meta.url).pathname;
  // No turn is run: the LLM address is never used.
  const piEnv = createPiEnv({
    llmUrl: "http://127.0.0.1:9",
    extensions: [extension],
    env: { REDIS_URL: cluster.seeds[2]!, GATEWAY_ROLE: "central", GATEWAY_ID: "" },
  });
  const pi = await startRpcPi(piEnv);
  try {
    const started = Date.now();
    const text = (e: RpcEvent) => String((e as { message?: unknown; statusText?: unknown }).message ?? (e as { statusText?: unknown }).statusText);
    const isUi = (method: string, pattern: RegExp) => (e: RpcEvent) => e.type === "extension_ui_request" && e.method === method && pattern.test(text(e));
    await pi.waitForEvent(isUi("setStatus", /^🔗 central$/), BOUND_MS);
    console.log(`extension: central on the cluster ${Date.now() - started} ms after pi started`);
    assert.equal(pi.events.filter(isUi("notify", /Redis Cluster node|CROSSSLOT|MOVED/)).length, 0, "no refusal, no slot error");
    await waitFor(async () => /^gateway +central/m.test((await cli(["sessions"])).stdout), "the extension's central session in `sessions`", BOUND_MS);
    // Its connections are a cluster client's: one per node it talks to, not a single one to REDIS_URL.
    const named = (await Promise.all(cluster.nodes.map((node) => clientNames(node.port)))).filter((names) =>
      names.some((n) => n.startsWith("pi-gateway:gateway")),
    );
    assert.ok(named.length >= 3, `the extension's client on every primary (on ${named.length} nodes)`);
  } finally {
    await pi.stop();
    piEnv.cleanup();
  }
});

async function clientNames(port: number): Promise<string[]> {
  const admin = new Redis(port, "127.0.0.1");
  try {
    const list = String(await admin.client("LIST"));
    return [...list.matchAll(/ name=(\S*)/g)].map((m) => m[1]!);
  } finally {
    admin.disconnect();
  }
}
