/**
 * The extension inside the REAL pi (rpc mode) and the session id lease: a central whose id is held
 * drains nothing and says who holds it, then takes over when the holder dies; without
 * GATEWAY_ROLE a session becomes central when the id is free and a satellite naming the central
 * when it is held; with Redis down at start the role waits for Redis.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { hostname } from "node:os";
import { afterEach, describe, test } from "node:test";
import { GatewayBus } from "../../src/bus/bus.js";
import { createEvent } from "../../src/protocol/event.js";
import { startExtensionPi } from "../helpers/extension-pi.js";
import type { RpcEvent, RpcPi } from "../helpers/pi-env.js";
import { usePiSuite } from "../helpers/pi-suite.js";
import { sleep, waitFor } from "../helpers/wait.js";

const cleanups: Array<() => Promise<void> | void> = [];

// Redis, bus and fake LLM only: each test makes its own pi environments.
const suite = usePiSuite({ flushEach: true, piEnv: false });
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

const startPi = (env: Record<string, string>): Promise<RpcPi> => startExtensionPi(suite, cleanups, env, "1500ms");

/** A daemon as the bus sees it: a live process (sleep) holding `gateway`, renewing its lease. */
async function holdGateway(takeover = false): Promise<{ pid: number; die(): void }> {
  const proc = spawn("sleep", ["120"], { stdio: "ignore" });
  const holderBus = new GatewayBus(suite.bus.client, { ...suite.bus.options, presenceTtlMs: 1_500 });
  const registration = { id: "gateway", role: "central" as const, durable: true, instance: "fake-daemon", kind: "daemon", pid: proc.pid };
  assert.equal((await holderBus.register(registration, { takeover: takeover ? "force" : undefined })).status, "owner");
  const timer = setInterval(() => void holderBus.register(registration).catch(() => undefined), 400);
  const die = () => {
    clearInterval(timer);
    proc.kill("SIGKILL");
  };
  cleanups.push(die);
  return { pid: proc.pid!, die };
}

const isStatus = (pattern: RegExp) => (e: RpcEvent) => e.type === "extension_ui_request" && e.method === "setStatus" && pattern.test(String(e.statusText));
const isNotice = (pattern: RegExp) => (e: RpcEvent) => e.type === "extension_ui_request" && e.method === "notify" && pattern.test(String(e.message));
const text = (e: RpcEvent) => String((e as { message?: unknown; statusText?: unknown }).message ?? (e as { statusText?: unknown }).statusText);

async function gatewayReport(pi: RpcPi): Promise<string> {
  const since = pi.events.length;
  await pi.prompt("/gateway");
  return text(await pi.waitForEvent(isNotice(/^role:/), 5_000, since));
}

describe("session id lease in the real pi", () => {
  test("central whose id is held: drains nothing, shows ⛔ with the holder, takes over when the holder dies", async () => {
    const holder = await holdGateway();
    const pi = await startPi({ GATEWAY_ROLE: "central" });
    const who = `daemon pid ${holder.pid} on ${hostname()}, since \\d\\d:\\d\\d`;
    const status = await pi.waitForEvent(isStatus(/⛔/), 10_000);
    assert.match(text(status), new RegExp(`^⛔ gateway held by ${who}$`));
    const notice = await pi.waitForEvent(isNotice(/is held by/), 5_000);
    assert.match(text(notice), new RegExp(`session id "gateway" is held by ${who}: this session drains no events`));

    await suite.bus.push(createEvent("while.held", "test", {}, { id: "while-held" }));
    await suite.bus.client.lpush("agent:events:main", JSON.stringify(createEvent("legacy", "test", {}, { id: "legacy-held" })));
    await sleep(1_500); // several polls and presence ticks
    assert.equal(suite.llm.requests.filter((r) => /while-held|legacy-held/.test(JSON.stringify(r.body))).length, 0, "nothing drained while held");
    assert.equal(await suite.bus.pending("gateway"), 1);
    assert.equal(await suite.bus.pending("main"), 1);
    const report = await gatewayReport(pi);
    assert.match(report, /^role: central$/m);
    assert.match(report, new RegExp(`^owner: ⛔ held by ${who}: this session drains nothing until that one stops$`, "m"));
    assert.equal((await suite.bus.sessions()).find((s) => s.id === "gateway")?.kind, "daemon", "the holder's record is untouched");

    const since = pi.events.length;
    holder.die();
    await pi.waitForEvent(isNotice(/took over session id "gateway"/), 10_000, since);
    await pi.waitForEvent(isStatus(/^🔗 central$/), 5_000, since);
    await suite.llm.waitForRequest((r) => r.lastUserText.includes("while-held"), 10_000);
    await suite.llm.waitForRequest((r) => JSON.stringify(r.body).includes("legacy-held"), 10_000);
    const owner = (await suite.bus.sessions()).find((s) => s.id === "gateway")!;
    assert.equal(owner.kind, "pi");
    assert.match(await gatewayReport(pi), /^owner: this session/m);
  });

  test("central displaced by a takeover: stops draining at once, shows ⛔, takes the id back when the usurper dies", async () => {
    const pi = await startPi({ GATEWAY_ROLE: "central" });
    await pi.waitForEvent(isStatus(/^🔗 central$/), 10_000);
    const since = pi.events.length;
    const usurper = await holdGateway(true);
    const who = `daemon pid ${usurper.pid} on ${hostname()}, since \\d\\d:\\d\\d`;
    // The next claim (a push wakes it) finds the id taken: no wait for the presence tick.
    await suite.bus.push(createEvent("after.takeover", "test", {}, { id: "after-takeover" }));
    const lost = await pi.waitForEvent(isNotice(/was taken over by/), 5_000, since);
    assert.match(text(lost), new RegExp(`session id "gateway" was taken over by ${who}: this session stopped draining events`));
    await pi.waitForEvent(isStatus(new RegExp(`^⛔ gateway held by ${who}$`)), 5_000, since);
    await sleep(1_000);
    assert.equal(suite.llm.requests.filter((r) => JSON.stringify(r.body).includes("after-takeover")).length, 0, "not drained next to the new owner");
    assert.equal(await suite.bus.pending("gateway"), 1);

    usurper.die();
    await pi.waitForEvent(isNotice(/took over session id "gateway"/), 10_000, since);
    await suite.llm.waitForRequest((r) => r.lastUserText.includes("after-takeover"), 10_000);
  });

  test("no GATEWAY_ROLE and the id free: becomes central and says so", async () => {
    const pi = await startPi({});
    await pi.waitForEvent(isStatus(/^🔗 central$/), 10_000);
    const session = await waitFor(async () => (await suite.bus.sessions()).find((s) => s.id === "gateway" && s.live), "central registered");
    assert.equal(session.role, "central");
    assert.equal(session.kind, "pi");
    const report = await gatewayReport(pi);
    assert.match(report, /^role: central \(automatic: no GATEWAY_ROLE\)$/m);
    assert.match(report, /^session id: gateway \(durable\)/m);
    await suite.bus.push(createEvent("cron.heartbeat", "cron", {}, { id: "hb-auto" }));
    await suite.llm.waitForRequest((r) => r.lastUserText.includes("hb-auto"), 5_000);
  });

  test("no GATEWAY_ROLE and the id held: becomes a satellite that names the central, and gets no heartbeat", async () => {
    const holder = await holdGateway();
    const pi = await startPi({});
    const who = `daemon pid ${holder.pid} on ${hostname()}, since \\d\\d:\\d\\d`;
    const status = await pi.waitForEvent(isStatus(/^🔗 satellite/), 10_000);
    assert.match(text(status), new RegExp(`^🔗 satellite · central is ${who}$`));
    const satellite = await waitFor(async () => (await suite.bus.sessions()).find((s) => s.role === "satellite" && s.live), "satellite registered");
    assert.match(satellite.id, /^pid-\d+$/);
    const report = await gatewayReport(pi);
    assert.match(report, new RegExp(`^role: satellite \\(automatic: no GATEWAY_ROLE\\) · central is ${who}$`, "m"));
    assert.match(report, new RegExp(`^session id: ${satellite.id}`, "m"));
    assert.equal(pi.events.filter(isStatus(/⛔/)).length, 0, "a satellite is not 'held': it has its own id");
    const beat = await suite.bus.push(createEvent("cron.heartbeat", "cron", {}, { id: "hb-sat" }));
    assert.deepEqual(beat.sessions, ["gateway"], "the heartbeat goes to the central only");
  });

  test("no GATEWAY_ROLE and Redis down at start: pi runs, the role waits for Redis, then is decided", async () => {
    await suite.redis.kill("SIGKILL");
    const pi = await startPi({});
    await pi.waitForEvent(isStatus(/^⏳ gateway waiting for Redis \(retrying; role decided once Redis answers; \/gateway says why\)$/), 10_000);
    const report = await gatewayReport(pi);
    assert.match(report, /^role: not decided yet: waiting for Redis \(central if no live session holds the central id, else satellite\)$/m);
    assert.match(report, /^redis: redis:\/\/127\.0\.0\.1:\d+ — waiting for Redis: Redis at \S+ refused the connection \(trying again\)$/m);
    const since = pi.events.length;
    await suite.redis.restart();
    await pi.waitForEvent(isStatus(/^🔗 central$/), 15_000, since);
    await waitFor(
      async () => (await suite.bus.sessions().catch(() => [])).find((s) => s.id === "gateway" && s.live),
      "central registered once Redis is back",
      10_000,
    );
  });
});
