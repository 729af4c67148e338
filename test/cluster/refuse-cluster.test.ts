/**
 * Until its keys are hash-tagged (docs/cluster.md) the gateway refuses a Redis Cluster node at
 * connect, with one line naming what to use instead, instead of CROSSSLOT/MOVED errors (and a daemon
 * that never exits). Against a real cluster: `push`, `status`, the daemon and the extension in a
 * real pi all refuse, quickly.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import { runCli } from "../helpers/cli.js";
import { createPiEnv, startRpcPi, type RpcEvent } from "../helpers/pi-env.js";
import { startRedisCluster, type RedisCluster } from "../helpers/redis-cluster.js";
import { waitFor } from "../helpers/wait.js";

/** Start to exit, on 2 shared cores: a refusal is one INFO after the connection, not a timeout. */
const BOUND_MS = 5_000;
const REFUSAL =
  /^pi-gateway: Redis at redis:\/\/127\.0\.0\.1:\d+ is a Redis Cluster node \(INFO cluster: cluster_enabled:1\), which pi-gateway does not support yet .*: set REDIS_URL \/ --redis-url to a single Redis, or to the primary of a primary with replicas \(see docs\/cluster\.md\)\n$/;

let cluster: RedisCluster;
const home = mkdtempSync(join(tmpdir(), "pigw-refuse-cluster-"));
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

async function timed(args: string[], extra: Record<string, string> = {}) {
  const started = Date.now();
  const result = await runCli(args, { env: { ...env(), ...extra }, timeoutMs: 30_000 });
  return { ...result, ms: Date.now() - started };
}

for (const args of [["push", "build.done", "-p", "{}"], ["status"], ["sessions"]]) {
  test(`pi-gateway ${args[0]} on a cluster node: one line, exit 4`, async () => {
    const result = await timed(args);
    console.log(`${args[0]}: exit ${result.code} in ${result.ms} ms`);
    assert.match(result.stderr, REFUSAL);
    assert.equal(result.code, 4);
    assert.ok(result.ms < BOUND_MS, `refused within ${BOUND_MS} ms (took ${result.ms})`);
  });
}

test("--json: the error code is REDIS_CLUSTER", async () => {
  const result = await timed(["status", "--json"]);
  assert.equal(result.code, 4);
  assert.equal((JSON.parse(result.stdout) as { code: string }).code, "REDIS_CLUSTER");
});

test("the daemon refuses at start and exits 4 (before: CROSSSLOT, and it never exited)", async () => {
  const result = await timed(["daemon", "--port", "0"]);
  console.log(`daemon: exit ${result.code} in ${result.ms} ms`);
  assert.match(result.stderr, REFUSAL);
  assert.equal(result.code, 4);
  assert.ok(result.ms < BOUND_MS * 2, `exited within ${BOUND_MS * 2} ms (took ${result.ms})`);
});

test("a daemon whose default address is a cluster node says so instead of starting its own Redis", async () => {
  const result = await timed(["daemon", "--port", "0"], { REDIS_URL: "" });
  assert.match(result.stderr, REFUSAL);
  assert.equal(result.code, 4);
  assert.doesNotMatch(result.stdout, /embedded/);
});

test("the extension in a real pi: session_start says it (notice and status bar) and stops connecting; pi runs on", async () => {
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
    const notice = await pi.waitForEvent(isUi("notify", /Redis Cluster node/), BOUND_MS);
    console.log(`extension: refused ${Date.now() - started} ms after pi started`);
    assert.match(text(notice), /^gateway: Redis at redis:\/\/127\.0\.0\.1:\d+ is a Redis Cluster node .*see docs\/cluster\.md\)$/);
    await pi.waitForEvent(isUi("setStatus", /^⛔ gateway not started \(\/gateway says why\)$/), BOUND_MS);
    // No connection left open to the cluster by the extension (it would reconnect forever).
    const port = Number(new URL(cluster.seeds[2]!).port);
    await waitFor(async () => !(await clientNames(port)).some((name) => name.startsWith("pi-gateway:")), "the extension's connection to end", BOUND_MS);
    // pi itself still answers its own commands.
    const since = pi.events.length;
    await pi.prompt("/gateway");
    const report = await pi.waitForEvent(isUi("notify", /^role:/), BOUND_MS, since);
    assert.match(text(report), /last error: Redis at .* is a Redis Cluster node/);
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
