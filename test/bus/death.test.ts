/**
 * Death detection (issue #17, item 4), with real processes and the default presence settings: a
 * satellite process holding a session is killed with SIGKILL, and a producer keeps pushing to it.
 * It must stop being a push target within 10 s (pushes are refused with UNKNOWN_SESSION), and what
 * was pushed to it before that must be dead-lettered once it is reaped (an ephemeral id) or kept
 * for the next session with that id (a durable id). A central consumer in this process does the
 * reaping, as the daemon does. The time is printed as a figure line.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { GatewayBus } from "../../src/bus/bus.js";
import { EventConsumer } from "../../src/bus/consumer.js";
import { GatewayError } from "../../src/bus/errors.js";
import { resolveBusOptions } from "../../src/config/bus-options.js";
import { ConfigError } from "../../src/config/errors.js";
import { createEvent } from "../../src/protocol/event.js";
import { killAll, spawnFixture, type Child } from "../chaos/harness.js";
import { runCli } from "../helpers/cli.js";
import { startRedis, type RedisServer } from "../helpers/redis-server.js";
import { sleep, waitFor } from "../helpers/wait.js";

/** The children and this process run with the defaults: no presence setting from the environment. */
const DEFAULTS = { GATEWAY_PRESENCE_TTL: "", GATEWAY_PRESENCE_INTERVAL: "" };
for (const name of Object.keys(DEFAULTS)) delete process.env[name];

let redis: RedisServer;
let bus: GatewayBus;
let central: EventConsumer;

before(async () => {
  redis = await startRedis();
  bus = await GatewayBus.connect({ redisUrl: redis.url, persistent: true });
  central = new EventConsumer({ bus, sessionId: "gateway", role: "central", durable: true, deliver: async () => undefined });
  await central.start();
});

after(async () => {
  await killAll();
  await central.stop();
  await bus.close();
  await redis.stop();
});

async function satellite(sid: string, durable: boolean): Promise<Child> {
  const child = spawnFixture(sid, "consumer-child.ts", { ...DEFAULTS, REDIS_URL: redis.url, SID: sid, ROLE: "satellite", DURABLE: durable ? "1" : "0" });
  await child.waitForLine(/^ready$/);
  return child;
}

/** Pushes one event to `sid`: its id when accepted, undefined when refused as an unknown (dead) session. */
async function pushTo(sid: string, id: string): Promise<string | undefined> {
  try {
    const result = await bus.push(createEvent("death.test", "test", {}, { id, target: sid }));
    assert.ok(result.sessions.includes(sid), `${id} queued for ${sid}`);
    return id;
  } catch (error) {
    if (error instanceof GatewayError && error.code === "UNKNOWN_SESSION") return undefined;
    throw error;
  }
}

async function delivered(id: string): Promise<boolean> {
  return (await bus.client.sismember("{test}:seen", id)) === 1;
}

describe("a satellite killed with SIGKILL (default presence settings)", () => {
  test("stops being a push target within 10 s; what was pushed to it meanwhile is dead-lettered and listed", async () => {
    const sid = "pid-death-1";
    const child = await satellite(sid, false);
    await pushTo(sid, "before-kill");
    await waitFor(() => delivered("before-kill"), "the live satellite drained its event");

    await child.kill("SIGKILL");
    const killedAt = Date.now();
    const accepted: string[] = [];
    let refusedAfterMs: number | undefined;
    for (let i = 0; refusedAfterMs === undefined && Date.now() - killedAt < 12_000; i++) {
      const id = await pushTo(sid, `after-kill-${i}`);
      if (id) accepted.push(id);
      else refusedAfterMs = Date.now() - killedAt;
      await sleep(100);
    }
    console.log(
      `figure: SIGKILLed satellite no longer a push target after ${refusedAfterMs ?? "> 12000"} ms (${accepted.length} events pushed to it meanwhile)`,
    );
    assert.ok(refusedAfterMs !== undefined && refusedAfterMs <= 10_000, `still a target ${Date.now() - killedAt} ms after SIGKILL`);
    assert.ok(accepted.length > 0, "pushes were accepted until the presence lapsed");

    // Reaped by the central's presence tick: every event accepted for it is a dead letter, with the reason.
    const letters = await waitFor(
      async () => {
        const all = (await bus.deadLetters(100)).filter((l) => l.session === sid);
        return all.length >= accepted.length ? all : undefined;
      },
      "the dead satellite reaped and its events dead-lettered",
      10_000,
      100,
    );
    console.log(`figure: SIGKILLed satellite reaped after ${Date.now() - killedAt} ms, ${letters.length} events dead-lettered`);
    assert.deepEqual(letters.map((l) => l.id).sort(), [...accepted].sort());
    for (const letter of letters) assert.match(letter.reason, /died before delivery: its presence lapsed/);
    assert.ok(!(await bus.sessions()).some((s) => s.id === sid), "no longer registered");

    // Visible to the user, never silent.
    const listed = await runCli(["dead-letters", "--lines", "1000"], { env: { REDIS_URL: redis.url } });
    assert.equal(listed.code, 0, listed.stderr);
    for (const id of accepted) assert.ok(listed.stdout.includes(id), `pi-gateway dead-letters lists ${id}`);
  });

  test("a durable id keeps what was pushed to it for its next session, which drains it", async () => {
    const sid = "named-death";
    const first = await satellite(sid, true);
    await first.kill("SIGKILL");
    const killedAt = Date.now();
    const pushed = [await pushTo(sid, "kept-1"), await pushTo(sid, "kept-2")];
    assert.deepEqual(pushed, ["kept-1", "kept-2"], "a durable id stays a target while down");

    // Reaped like any dead session (presence dropped), its queue kept.
    const info = await waitFor(
      async () => (await bus.sessions()).find((s) => s.id === sid && s.presenceDeadline === 0),
      "the dead durable session reaped",
      17_000,
      100,
    );
    console.log(`figure: SIGKILLed durable satellite reaped after ${Date.now() - killedAt} ms, ${info.pending} events kept`);
    assert.equal(info.pending, 2);
    assert.equal((await bus.deadLetters(100)).filter((l) => l.session === sid).length, 0, "nothing dead-lettered");

    await satellite(sid, true);
    await waitFor(async () => (await delivered("kept-1")) && (await delivered("kept-2")), "the next session with that id drained what was kept");
  });

  test("a satellite frozen past its presence says so when it wakes: reaped, its events dead-lettered", async () => {
    const sid = "pid-death-frozen";
    const child = await satellite(sid, false);
    child.proc.kill("SIGSTOP");
    try {
      assert.equal(await pushTo(sid, "while-frozen"), "while-frozen");
      await waitFor(async () => (await bus.deadLetters(100)).some((l) => l.id === "while-frozen"), "the frozen satellite reaped", 20_000, 100);
    } finally {
      child.proc.kill("SIGCONT");
    }
    const line = await child.waitForLine(/^lapsed /, 10_000);
    assert.deepEqual(JSON.parse(line.slice("lapsed ".length)), { lapsedMs: 0, reaped: true });
    // Registered again: a target once more.
    await waitFor(async () => (await pushTo(sid, "after-wake")) === "after-wake", "the woken satellite a target again");
    await waitFor(() => delivered("after-wake"), "the woken satellite drained its event");
  });
});

test("an in-flight entry whose lease ran out (its holder hung) is put back at the owner's next presence tick", async () => {
  const sid = "lease-owner";
  const seen: string[] = [];
  const owner = new EventConsumer({
    bus,
    sessionId: sid,
    role: "satellite",
    durable: true,
    deliver: async ({ events }) => void seen.push(...events.map((e) => e.id)),
  });
  await owner.start();
  try {
    // Claimed by a holder that hung: in flight, its lease already run out.
    const stuck = createEvent("death.test", "test", {}, { id: "stuck-1" });
    await bus.client.hset(bus.keys.inflight(sid), stuck.id, JSON.stringify(stuck));
    await bus.client.zadd(bus.keys.leases(sid), Date.now() - 1_000, stuck.id);
    const t0 = Date.now();
    await waitFor(() => seen.includes("stuck-1"), "the expired entry recovered and delivered", 4_500, 50);
    console.log(`figure: expired lease recovered by the presence tick after ${Date.now() - t0} ms`);
  } finally {
    await owner.stop();
  }
});

describe("GATEWAY_PRESENCE_INTERVAL", () => {
  test("defaults to a third of the TTL; one not shorter than the TTL is refused with one clear line", async () => {
    assert.equal(resolveBusOptions({}, {}).presenceTtlMs, 9_000);
    assert.equal(resolveBusOptions({}, {}).presenceIntervalMs, undefined);
    assert.equal(resolveBusOptions({}, { GATEWAY_PRESENCE_INTERVAL: "2s" }).presenceIntervalMs, 2_000);
    for (const [env, message] of [
      [
        { GATEWAY_PRESENCE_INTERVAL: "9s" },
        'GATEWAY_PRESENCE_INTERVAL="9s" is not shorter than GATEWAY_PRESENCE_TTL (9s): a live session would count as dead between two refreshes (expected a duration under 9s, e.g. 3s, or unset for a third of the TTL)',
      ],
      [{ GATEWAY_PRESENCE_TTL: "2s", GATEWAY_PRESENCE_INTERVAL: "1m" }, /^GATEWAY_PRESENCE_INTERVAL="1m" is not shorter than GATEWAY_PRESENCE_TTL \(2s\)/],
      [{ GATEWAY_PRESENCE_INTERVAL: "10" }, /^GATEWAY_PRESENCE_INTERVAL="10" is not a duration/],
      [{ GATEWAY_PRESENCE_INTERVAL: "50ms" }, /^GATEWAY_PRESENCE_INTERVAL="50ms" is less than 100ms/],
      [{ GATEWAY_PRESENCE_TTL: "100ms" }, /^GATEWAY_PRESENCE_TTL="100ms" is less than 500ms/],
    ] as const) {
      assert.throws(
        () => resolveBusOptions({}, env),
        (error: Error) => error instanceof ConfigError && (typeof message === "string" ? error.message === message : message.test(error.message)),
      );
    }
    const cli = await runCli(["status"], { env: { REDIS_URL: redis.url, GATEWAY_PRESENCE_INTERVAL: "30s" } });
    assert.equal(cli.code, 2);
    assert.match(cli.stderr.trim(), /^pi-gateway: GATEWAY_PRESENCE_INTERVAL="30s" is not shorter than GATEWAY_PRESENCE_TTL \(9s\)/);
  });
});
