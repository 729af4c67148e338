/**
 * The extension inside a real pi (rpc mode, fake LLM) on a real Redis Cluster (3 primaries + 3
 * replicas): it finds out it is on a cluster when Redis first answers and runs on a cluster client.
 * Events pushed by the built CLI (`pi-gateway push`) and by a raw producer with a cluster client
 * (`redis-cli -c LPUSH agent:events:main` + PUBLISH) reach the central's session and its LLM once
 * each; a satellite gets its own events; a cluster that is down when pi starts is waited for (pi runs,
 * the status bar says so) and used once it is up.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, test } from "node:test";
import { GatewayBus } from "../../src/bus/bus.js";
import { createEvent } from "../../src/protocol/event.js";
import { runCli } from "../helpers/cli.js";
import { startFakeLlm, type FakeLlm } from "../helpers/fake-llm.js";
import { createPiEnv, startRpcPi, type PiEnv, type RpcEvent, type RpcPi } from "../helpers/pi-env.js";
import { eventIdsIn } from "../helpers/prompt-ids.js";
import { startRedisCluster, type RedisCluster } from "../helpers/redis-cluster.js";
import { recordedEventIds } from "../helpers/session-records.js";
import { sleep, waitFor } from "../helpers/wait.js";

const extension = new URL("../../dist/extension/index.js", import.meta.url).pathname;

let cluster: RedisCluster;
let llm: FakeLlm;
const home = mkdtempSync(join(tmpdir(), "pigw-cluster-ext-"));
const cleanups: Array<() => Promise<void> | void> = [];

before(async () => {
  cluster = await startRedisCluster();
  llm = await startFakeLlm();
});
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
  // Every test starts from an empty cluster (a primary's FLUSHALL empties only its own slots).
  for (const node of await cluster.primaries()) execFileSync("redis-cli", ["-p", String(node.port), "FLUSHALL"]);
});
after(async () => {
  await llm?.close();
  await cluster?.stop();
  rmSync(home, { recursive: true, force: true });
});

/** Environment of the CLI: the cluster through one node's URL (a replica's works as well: seeds[5]). */
const cliEnv = () => ({ REDIS_URL: cluster.seeds[5]!, HOME: home, GATEWAY_ENV_FILE: "none", GATEWAY_DEFAULT_REDIS_URL: cluster.seeds[5]! });
const cli = async (...args: string[]) => {
  const result = await runCli(args, { env: cliEnv(), timeoutMs: 30_000 });
  assert.equal(result.code, 0, `pi-gateway ${args.join(" ")}: ${result.stderr}`);
  return result.stdout;
};

async function startPi(env: Record<string, string>, model = llm): Promise<RpcPi & { piEnv: PiEnv }> {
  const piEnv = createPiEnv({
    llmUrl: model.url,
    extensions: [extension],
    env: { REDIS_URL: cluster.seeds[0]!, GATEWAY_POLL_INTERVAL: "500ms", GATEWAY_PRESENCE_TTL: "3s", GATEWAY_ROLE: "", GATEWAY_ID: "", ...env },
  });
  const pi = await startRpcPi(piEnv);
  cleanups.push(() => piEnv.cleanup());
  cleanups.push(() => pi.stop());
  return { ...pi, piEnv };
}

const textOf = (e: RpcEvent) => String((e as { message?: unknown }).message ?? (e as { statusText?: unknown }).statusText);
const isUi = (method: string, pattern: RegExp) => (e: RpcEvent) => e.type === "extension_ui_request" && e.method === method && pattern.test(textOf(e));

async function gatewayReport(pi: RpcPi): Promise<string> {
  const since = pi.events.length;
  await pi.prompt("/gateway");
  return textOf(await pi.waitForEvent(isUi("notify", /^role:/), 5_000, since));
}

/** How many chat requests showed each id to the model as new (its last user message). */
function promptCounts(model: FakeLlm): Map<string, number> {
  const counts = new Map<string, number>();
  for (const request of model.chatRequests()) for (const id of eventIdsIn(request.lastUserText)) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

/** Every id reached the model exactly once and is recorded once in the pi's session file. */
async function assertSeenOnce(model: FakeLlm, pi: { piEnv: PiEnv }, ids: string[]): Promise<void> {
  await waitFor(() => ids.every((id) => promptCounts(model).has(id)), `the LLM to see ${ids.join(", ")}`, 20_000);
  // A duplicate would come with the next drain: poll interval 500 ms.
  await sleep(1_500);
  const counts = promptCounts(model);
  const recorded = recordedEventIds(join(pi.piEnv.agentDir, "sessions"));
  for (const id of ids) {
    assert.equal(counts.get(id), 1, `${id} shown to the LLM once`);
    assert.equal(recorded.get(id), 1, `${id} in the session once`);
  }
}

test("central pi on a cluster: events from `pi-gateway push` and from a raw cluster-client LPUSH reach its session and the LLM once each", async () => {
  const pi = await startPi({ GATEWAY_ROLE: "central" });
  await pi.waitForEvent(isUi("setStatus", /^🔗 central$/), 20_000);
  assert.match(await gatewayReport(pi), /^redis: redis:\/\/127\.0\.0\.1:\d+ \(Redis Cluster\) — connected$/m);
  assert.match(await cli("sessions"), /^gateway +central/m);
  const ids = ["cli-1", "cli-2", "cli-3"];
  for (const id of ids) await cli("push", "build.done", "--id", id, "-p", JSON.stringify({ id }));
  // The seed's raw producer, through a cluster client (-c follows the MOVED to slot 8682's primary).
  const raw = (...args: string[]) =>
    execFileSync("redis-cli", ["-c", "-p", String(cluster.nodes[1]!.port), ...args])
      .toString()
      .trim();
  raw("LPUSH", "agent:events:main", JSON.stringify({ id: "raw-1", type: "test", source: "manual", payload: {}, ts: Date.now() }));
  raw("PUBLISH", "agent:notify:main", "raw-1");
  await assertSeenOnce(llm, pi, [...ids, "raw-1"]);
  const status = JSON.parse(await cli("status", "--json")) as { backlog: Record<string, number> };
  assert.equal(status.backlog.gateway ?? 0, 0, "nothing left in the central's queue");
  assert.equal(status.backlog.main ?? 0, 0, "nothing left in main");
});

test("200 events from 4 producers on a cluster into a central pi: every one in the session and shown to the LLM once", async () => {
  const pi = await startPi({ GATEWAY_ROLE: "central" });
  await pi.waitForEvent(isUi("setStatus", /^🔗 central$/), 20_000);
  const producers = await Promise.all([0, 1, 2, 3].map((p) => GatewayBus.connect({ redisUrl: cluster.seeds[p]!, name: `test:producer-${p}` })));
  cleanups.push(() => Promise.all(producers.map((bus) => bus.close())).then(() => undefined));
  const ids = Array.from({ length: 200 }, (_, i) => `load-${i}`);
  const started = Date.now();
  await Promise.all(
    producers.map(async (bus, p) => {
      for (const id of ids.filter((_, i) => i % producers.length === p)) await bus.pushWithRetry(createEvent("job.done", `producer-${p}`, { id }, { id }));
    }),
  );
  const pushedMs = Date.now() - started;
  await waitFor(() => ids.every((id) => promptCounts(llm).has(id)), "every event shown to the LLM", 60_000);
  const drainedMs = Date.now() - started;
  await assertSeenOnce(llm, pi, ids);
  console.log(
    `EXTENSION-CLUSTER: 200 events pushed in ${pushedMs} ms by 4 producers, all in the session once and shown to the LLM once within ${drainedMs} ms`,
  );
});

test("a satellite pi on a cluster gets the events targeted at it, the central those that are not", async () => {
  const satelliteLlm = await startFakeLlm();
  cleanups.push(() => satelliteLlm.close());
  const central = await startPi({ GATEWAY_ROLE: "central" });
  const satellite = await startPi({ GATEWAY_ROLE: "satellite", GATEWAY_ID: "sat-a", REDIS_URL: cluster.seeds[2]! }, satelliteLlm);
  await central.waitForEvent(isUi("setStatus", /^🔗 central$/), 20_000);
  await satellite.waitForEvent(isUi("setStatus", /^🔗 satellite · central is pi pid \d+/), 20_000);
  await cli("push", "job.done", "--id", "for-sat", "--target", "sat-a", "-p", "{}");
  await cli("push", "job.done", "--id", "for-central", "-p", "{}");
  await assertSeenOnce(satelliteLlm, satellite, ["for-sat"]);
  await assertSeenOnce(llm, central, ["for-central"]);
  assert.equal(promptCounts(satelliteLlm).has("for-central"), false, "the satellite does not get the central's event");
});

test("cluster down when pi starts: pi runs, the status bar says it waits for Redis, events arrive once the cluster is up", async () => {
  await cluster.killAll();
  const pi = await startPi({ GATEWAY_ROLE: "central" });
  await pi.waitForEvent(isUi("setStatus", /^⏳ gateway waiting for Redis \(retrying; \/gateway says why\)$/), 10_000);
  // pi itself answers meanwhile, and /gateway says why the gateway waits.
  assert.match(
    await gatewayReport(pi),
    /^redis: redis:\/\/127\.0\.0\.1:\d+ — waiting for Redis: Redis at redis:\/\/127\.0\.0\.1:\d+ refused the connection \(trying again\)$/m,
  );
  const since = pi.events.length;
  const started = Date.now();
  await cluster.restartAll();
  await pi.waitForEvent(isUi("setStatus", /^🔗 central$/), 20_000, since);
  console.log(`extension: central ${Date.now() - started} ms after the cluster restart began`);
  await cli("push", "build.done", "--id", "after-outage", "-p", "{}");
  await assertSeenOnce(llm, pi, ["after-outage"]);
});
