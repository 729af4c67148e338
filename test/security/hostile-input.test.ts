/**
 * Hostile input, round 2 (issue #17 item 8): schedules, pairing codes, agent tool arguments, the
 * history API's parameters and config values. First the bugs a previous fuzz run found, one test
 * each; then the seeded fuzz (test/chaos/surface-fuzz.ts) at a size the default suite affords
 * (FUZZ_SEED replays a run; the chaos suite runs it bigger).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ExtensionContext } from "@mariozechner/pi-coding-agent";
import type { GatewayBus } from "../../src/bus/bus.js";
import { normalisePairingCode } from "../../src/bus/pairing.js";
import { buildSchedule } from "../../src/bus/schedule-spec.js";
import { createHttpApp } from "../../src/channels/http/app.js";
import { parseSetting } from "../../src/config/resolve.js";
import { gatewayTools } from "../../src/host/tools/index.js";
import { silentLogger } from "../../src/util/logger.js";
import { messageProblem, runSurfaceFuzz } from "../chaos/surface-fuzz.js";
import { runCli } from "../helpers/cli.js";
import { useRedisBus } from "../helpers/redis-bus.js";
import { freePort, type RedisServer } from "../helpers/redis-server.js";

let redis: RedisServer;
let bus: GatewayBus;
useRedisBus({ flushEach: true }, (r, b) => {
  redis = r;
  bus = b;
});

const CSI = "\u009b2J"; // C1 CSI: clears the screen on terminals that take 8-bit controls

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    return (error as Error).message;
  }
  assert.fail("accepted");
}

async function toolError(name: string, params: unknown): Promise<string> {
  const tool = gatewayTools({ bus: () => bus, sessionId: () => "sat-1", logger: () => silentLogger }).find((t) => t.name === name)!;
  try {
    await tool.execute("call-1", params as never, undefined, undefined, { cwd: "/" } as ExtensionContext);
  } catch (error) {
    return (error as Error).message;
  }
  assert.fail(`${name} accepted ${JSON.stringify(params)}`);
}

const safe = (message: string) => assert.equal(messageProblem(message), undefined, JSON.stringify(message));

describe("hostile input: the bugs the first round found", () => {
  test("a list setting's refused item is quoted, escaped and cut", () => {
    const message = errorOf(() => parseSetting("TELEGRAM_ALLOWED_USERS", `1,${CSI}${"9".repeat(500)}`));
    safe(message);
    assert.match(message, /has "\\u009b2J9+…", which is not a numeric Telegram id/);
  });

  test("pairing codes and user ids are quoted escaped in their errors (CLI, API, store)", async () => {
    safe(errorOf(() => normalisePairingCode(`${CSI}\u202eABCD`)));
    await assert.rejects(bus.pairing.revoke(`12${CSI}`), (error: Error) => (safe(error.message), true));
    const app = createHttpApp({ bus, token: "t" });
    const response = await app.request("/api/pairing/approve", {
      method: "POST",
      headers: { authorization: "Bearer t", "content-type": "application/json" },
      body: JSON.stringify({ code: `AB${CSI}` }),
    });
    assert.equal(response.status, 400);
    safe(((await response.json()) as { error: string }).error);
  });

  test("tool arguments are checked against the tool's schema before it runs: a clear error, nothing stored", async () => {
    assert.equal(await toolError("gateway_schedule", { text: 5, in: "1m" }), "invalid arguments for gateway_schedule: text: must be string");
    assert.equal(await toolError("gateway_schedule", { in: "1m" }), "invalid arguments for gateway_schedule: text: is required");
    assert.equal(await toolError("gateway_unschedule", { id: ["x"] }), "invalid arguments for gateway_unschedule: id: must be string");
    assert.equal(await toolError("gateway_notify", null), "invalid arguments for gateway_notify: arguments: must be object");
    assert.deepEqual(await bus.schedules.list(), []);
  });

  test("C1 controls and bidi overrides never pass through a tool error", async () => {
    for (const params of [
      { text: "x", cron: CSI },
      { text: "x", in: `\u0085${CSI}` },
      { text: "x", at: `2099\u202e` },
    ]) {
      safe(await toolError("gateway_schedule", params));
    }
  });

  test("an empty or blank time zone is refused, never stored as the schedule's zone", async () => {
    for (const timezone of ["", "  ", "Mars/Olympus", `UTC${CSI}`]) {
      const message = errorOf(() => buildSchedule({ text: "x", cron: "0 9 * * *", timezone, session: "main", createdBy: "t" }, Date.now()));
      safe(message);
      assert.match(message, /--tz/);
      safe(await toolError("gateway_schedule", { text: "x", cron: "0 9 * * *", timezone }));
    }
    assert.deepEqual(await bus.schedules.list(), []);
    const padded = buildSchedule({ text: "x", cron: "0 9 * * *", timezone: " UTC ", session: "main", createdBy: "t" }, Date.now());
    assert.equal(padded.timezone, "UTC", "stored trimmed");
  });

  test("GET /api/history takes ?limit in decimal digits only", async () => {
    const limits: number[] = [];
    const app = createHttpApp({ token: "t", history: (limit, before) => (limits.push(limit), before ? undefined : { items: [], more: false }) });
    const status = async (query: string) => (await app.request(`/api/history?${query}`, { headers: { authorization: "Bearer t" } })).status;
    for (const bad of ["0x10", "1e2", "%205", "5.0", "+5", "0b11", "Infinity"]) assert.equal(await status(`limit=${bad}`), 400, bad);
    assert.equal(await status("limit=10"), 200);
    assert.equal(await status(""), 200);
    assert.deepEqual(limits, [10, 100]);
    limits.length = 0;
    const echoed = await app.request(`/api/history?before=${encodeURIComponent(`x${CSI}`)}`, { headers: { authorization: "Bearer t" } });
    assert.equal(echoed.status, 400);
    safe(((await echoed.json()) as { error: string }).error);
  });

  test("pair approve/revoke and schedule rm refuse malformed input with exit 2 before connecting", async () => {
    const down = { REDIS_URL: `redis://127.0.0.1:${await freePort()}`, HOME: redis.dir };
    const up = { REDIS_URL: redis.url, HOME: redis.dir };
    for (const env of [down, up]) {
      for (const args of [
        ["pair", "approve", `bad${CSI}`],
        ["pair", "revoke", "12a"],
        ["schedule", "rm", "bad id!"],
        ["schedule", "rm", "../../x"],
      ]) {
        const result = await runCli(args, { env });
        assert.equal(result.code, 2, `${args.join(" ")} (${env === down ? "Redis down" : "Redis up"}): ${result.stderr}`);
        assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
        safe(result.stderr.trim());
      }
    }
  });

  test("PairingStore.list skips a corrupt stored entry, names it and lists the rest (CLI too)", async () => {
    const now = Date.now();
    await bus.client.hset(bus.keys.pairingApproved, "42", JSON.stringify({ userId: "42", code: "ABCDEFGH", createdAt: now, approvedAt: now }));
    await bus.client.hset(bus.keys.pairingApproved, "43", "{oops");
    await bus.pairing.request({ userId: "44", username: "ok" }, { ttlMs: 60_000, maxPending: 5 });
    await bus.client.hset(bus.keys.pairingRequests, `BAD${CSI}`, "[]");
    const list = await bus.pairing.list();
    assert.deepEqual(
      list.approved.map((a) => a.userId),
      ["42"],
    );
    assert.deepEqual(
      list.requests.map((r) => r.userId),
      ["44"],
    );
    assert.deepEqual(list.unreadable.map((u) => `${u.kind}:${u.field}`).sort(), ["approved:43", `request:BAD${CSI}`]);
    // Approving a corrupt request: a clear refusal (exit 1, 409), the entry left as it is.
    await bus.client.hset(bus.keys.pairingRequests, "ABCDEFGH", "{oops");
    const approve = await runCli(["pair", "approve", "ABCDEFGH"], { env: { REDIS_URL: redis.url, HOME: redis.dir } });
    assert.equal(approve.code, 1, approve.stderr);
    assert.match(approve.stderr, /^pi-gateway: the pairing request with code ABCDEFGH is unreadable/);
    const api = await createHttpApp({ bus, token: "t" }).request("/api/pairing/approve", {
      method: "POST",
      headers: { authorization: "Bearer t", "content-type": "application/json" },
      body: JSON.stringify({ code: "ABCDEFGH" }),
    });
    assert.equal(api.status, 409);
    assert.equal(await bus.client.hget(bus.keys.pairingRequests, "ABCDEFGH"), "{oops");
    await bus.client.hdel(bus.keys.pairingRequests, "ABCDEFGH");
    const cli = await runCli(["pair", "list"], { env: { REDIS_URL: redis.url, HOME: redis.dir } });
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /42/);
    const lines = cli.stderr.trim().split("\n");
    assert.equal(lines.length, 2, cli.stderr);
    for (const line of lines) {
      assert.match(line, /^pi-gateway: skipped an unreadable (paired user|pairing request) entry "/);
      safe(line);
    }
  });

  test("an unreadable expired pairing request does not stop later requests; a name cut inside an emoji pairs", async () => {
    const limits = { ttlMs: 60_000, maxPending: 5 };
    await bus.client.hset(bus.keys.pairingRequests, "CDEFGHJK", "{oops");
    await bus.client.zadd(bus.keys.pairingExpiry, Date.now() - 1, "CDEFGHJK");
    await bus.client.hset(bus.keys.pairingUsers, "50", "CDEFGHJK");
    const asked = await bus.pairing.request({ userId: "51", name: "cut 🔥".slice(0, 5) }, limits);
    assert.equal(asked.status, "issued");
    assert.equal(await bus.client.hget(bus.keys.pairingUsers, "50"), null, "the user of the unreadable expired code may ask again");
    assert.equal((await bus.pairing.request({ userId: "50" }, limits)).status, "issued");
    const approved = await bus.pairing.approve(asked.status === "issued" ? asked.code : "");
    assert.equal(approved.userId, "51");
    assert.equal(approved.name, "cut \ufffd");
  });

  test("a corrupt stored schedule is skipped and named by schedule list and gateway_schedules; the rest are listed", async () => {
    await bus.schedules.add(buildSchedule({ text: "keep", in: "1h", id: "keep", session: "main", createdBy: "t" }, Date.now()), { force: true });
    await bus.client.hset(bus.keys.schedules, `bad${CSI}`, "{oops");
    const cli = await runCli(["schedule", "list"], { env: { REDIS_URL: redis.url, HOME: redis.dir } });
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /^keep\s/m);
    assert.match(cli.stderr, /^pi-gateway: skipped schedule "bad\\u009b2J": its stored record is unreadable/);
    safe(cli.stderr.trim());
    const tool = gatewayTools({ bus: () => bus, sessionId: () => "sat-1", logger: () => silentLogger }).find((t) => t.name === "gateway_schedules")!;
    const result = await tool.execute("call-1", {} as never, undefined, undefined, { cwd: "/" } as ExtensionContext);
    const text = (result.content[0] as { text: string }).text;
    assert.match(text, /^keep: /m);
    assert.match(text, /skipped schedule "bad\\u009b2J"/);
  });
});

describe("hostile input: seeded fuzz of schedules, pairing, tool arguments, history API and config", () => {
  test("every bad input gets a clear error, nothing stored is lost, nothing crashes", { timeout: 60_000 }, async () => {
    const seed = Number(process.env.FUZZ_SEED ?? "20261203");
    const started = Date.now();
    const report = await runSurfaceFuzz(bus, seed, Number(process.env.FUZZ_ITERATIONS ?? "3000"));
    const tried = Object.values(report.surfaces).reduce((n, s) => n + s.tried, 0);
    process.stdout.write(`# surface fuzz seed ${seed}: ${tried} cases in ${Date.now() - started} ms ${JSON.stringify(report.surfaces)}\n`);
    assert.deepEqual(report.problems, [], `seed ${seed} (replay with FUZZ_SEED=${seed})`);
    for (const [name, tally] of Object.entries(report.surfaces)) assert.ok(tally.refused > 0, `${name}: the fuzz refused nothing: it tests nothing`);
  });
});
