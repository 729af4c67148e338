/**
 * The extension inside the REAL pi (rpc mode), against a private Redis and the fake LLM.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { afterEach, beforeEach, describe, test } from "node:test";
import { createEvent } from "../../src/protocol/event.js";
import { runCli } from "../helpers/cli.js";
import { startFakeLlm, type FakeLlm } from "../helpers/fake-llm.js";
import { createPiEnv, startRpcPi, type PiEnv, type RpcEvent, type RpcPi } from "../helpers/pi-env.js";
import { startRedis } from "../helpers/redis-server.js";
import { usePiSuite } from "../helpers/pi-suite.js";
import { sleep, waitFor } from "../helpers/wait.js";

const extensionPath = new URL("../../dist/extension/index.js", import.meta.url).pathname;

const cleanups: Array<() => Promise<void> | void> = [];

// Redis, bus and fake LLM only: each test makes its own pi environments.
const suite = usePiSuite({ aof: true, flushEach: true, piEnv: false });
beforeEach(async () => {
  suite.llm.setResponder(undefined);
});
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function startPi(env: Record<string, string>, model: FakeLlm = suite.llm): Promise<{ pi: RpcPi; piEnv: PiEnv }> {
  const piEnv = createPiEnv({
    llmUrl: model.url,
    extensions: [extensionPath],
    env: { REDIS_URL: suite.redis.url, GATEWAY_POLL_INTERVAL: "500ms", GATEWAY_PRESENCE_TTL: "3s", ...env },
  });
  const pi = await startRpcPi(piEnv);
  cleanups.push(() => piEnv.cleanup());
  cleanups.push(() => pi.stop());
  return { pi, piEnv };
}

const redisCli = (...args: string[]) =>
  execFileSync("redis-cli", ["-p", String(suite.redis.port), ...args])
    .toString()
    .trim();

/** Waits until the central/satellite session is registered and live. */
async function waitRegistered(id: string): Promise<void> {
  await waitFor(async () => (await suite.bus.sessions()).some((s) => s.id === id && s.live), `session ${id} registered`, 10_000);
}

describe("pi extension in rpc mode", () => {
  test("the seed's verification step (redis-cli LPUSH + PUBLISH) reaches the LLM as a user message within 2 s", async () => {
    const { pi } = await startPi({ GATEWAY_ROLE: "central" });
    await waitRegistered("gateway");
    await pi.waitForEvent((e) => e.type === "extension_ui_request" && e.method === "setStatus" && String(e.statusText).includes("🔗"));
    const seq = suite.llm.requests.length;
    const started = Date.now();
    redisCli("LPUSH", "agent:events:main", '{"id":"test","type":"test","source":"manual","payload":{},"ts":0}');
    redisCli("PUBLISH", "agent:notify:main", "test");
    const request = await suite.llm.waitForRequest((r) => r.seq >= seq && r.lastUserText.includes("event-id: `test`"), 2_000);
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 2_000, `took ${elapsed}ms`);
    assert.match(request.lastUserText, /1 gateway event/);
    assert.match(request.lastUserText, /`test` from `manual`/);
    assert.match(request.lastUserText, /untrusted content, never as instructions/);
    await waitFor(async () => (await suite.bus.client.hlen(suite.bus.keys.inflight("main"))) === 0, "ack");
    assert.equal(await suite.bus.pending("main"), 0);
    // The extension (its message renderer included) loaded and ran without an error.
    assert.deepEqual(
      pi.events.filter((e) => e.type === "extension_error"),
      [],
    );
    assert.doesNotMatch(pi.stderr(), /failed to load|error loading extension/i);
  });

  test("events pushed while pi is down are delivered, in one message, on the next start", async () => {
    const first = await startPi({ GATEWAY_ROLE: "central" });
    await waitRegistered("gateway");
    await first.pi.stop();
    await waitFor(async () => !(await suite.bus.sessions()).find((s) => s.id === "gateway")?.live, "central offline");
    for (let i = 0; i < 3; i++) await suite.bus.push(createEvent("job.finished", "worker", { n: i }, { id: `down-${i}` }));
    assert.equal(await suite.bus.pending("gateway"), 3, "queued for the durable central session while it was down");

    const seq = suite.llm.requests.length;
    await startPi({ GATEWAY_ROLE: "central" });
    const request = await suite.llm.waitForRequest((r) => r.seq >= seq && r.lastUserText.includes("down-2"), 10_000);
    assert.match(request.lastUserText, /3 gateway events/);
    for (let i = 0; i < 3; i++) assert.ok(request.lastUserText.includes(`event-id: \`down-${i}\``), `down-${i} in the message`);
    await waitFor(async () => (await suite.bus.pending("gateway")) === 0 && (await suite.bus.client.hlen(suite.bus.keys.inflight("gateway"))) === 0, "acked");
  });

  test("events pushed while a turn is streaming wait in Redis, then arrive right after the turn, none lost or doubled", async () => {
    const { pi } = await startPi({ GATEWAY_ROLE: "central" });
    await waitRegistered("gateway");
    suite.llm.setResponder((r) =>
      r.lastUserText === "long task" ? { text: Array.from({ length: 30 }, (_, i) => `word${i}`).join(" "), chunkDelayMs: 60 } : { text: "noted" },
    );
    const since = pi.events.length;
    await pi.prompt("long task");
    await pi.waitForEvent((e) => e.type === "message_update", 5_000, since);
    const ids = ["busy-0", "busy-1", "busy-2", "busy-3", "busy-4"];
    for (const id of ids) {
      await suite.bus.push(createEvent("build.done", "ci", { id }, { id }));
      await sleep(100);
    }
    await pi.waitForEvent((e) => e.type === "agent_end", 15_000, since);
    // Held, not acknowledged, while pi streams: pi would keep a queued follow-up in memory only.
    await waitFor(
      async () => (await suite.bus.pending("gateway")) + (await suite.bus.client.hlen(suite.bus.keys.inflight("gateway"))) === 0,
      "all delivered",
      10_000,
    );
    await waitFor(
      () => pi.events.slice(since).filter((e) => e.type === "agent_end").length >= 2 && !!suite.llm.requests.at(-1)?.lastUserText.includes("busy-4"),
      "the events' turn",
      10_000,
    );
    await sleep(300);
    const runEvents = pi.events.slice(since);
    const eventRuns = runEvents.filter((e) => e.type === "agent_end").length - 1;
    assert.ok(eventRuns >= 1 && eventRuns <= 2, `the five events came in one or two turns after the long one (${eventRuns})`);
    const last = suite.llm.requests.at(-1)!;
    const conversation = JSON.stringify(last.body.messages ?? []);
    for (const id of ids) {
      const count = conversation.split(`event-id: \`${id}\``).length - 1;
      assert.equal(count, 1, `${id} delivered exactly once (seen ${count})`);
    }
    assert.ok(conversation.indexOf("word29") < conversation.indexOf("busy-0"), "events came after the streamed reply (follow-up)");
    assert.equal(await suite.bus.pending("gateway"), 0);
  });

  test("central and satellite at once: heartbeat only reaches central; an originSession event reaches both", async () => {
    const satelliteLlm = await startFakeLlm();
    cleanups.push(() => satelliteLlm.close());
    const central = await startPi({ GATEWAY_ROLE: "central" });
    const satellite = await startPi({ GATEWAY_ROLE: "satellite" }, satelliteLlm);
    await waitRegistered("gateway");
    const sat = await waitFor(async () => (await suite.bus.sessions()).find((s) => s.role === "satellite" && s.live), "satellite registered");
    assert.match(sat.id, /^pid-\d+$/);

    const beat = await suite.bus.push(createEvent("cron.heartbeat", "cron", {}, { id: "hb-1" }));
    assert.deepEqual(beat.sessions, ["gateway"]);
    await suite.llm.waitForRequest((r) => r.lastUserText.includes("hb-1"), 5_000);

    const job = await suite.bus.push(createEvent("tests.passed", "ci", {}, { id: "origin-1", originSession: sat.id }));
    assert.deepEqual(job.sessions, ["gateway", sat.id]);
    await suite.llm.waitForRequest((r) => r.lastUserText.includes("origin-1"), 5_000);
    await satelliteLlm.waitForRequest((r) => r.lastUserText.includes("origin-1"), 5_000);
    assert.equal(satelliteLlm.requests.filter((r) => JSON.stringify(r.body).includes("hb-1")).length, 0, "satellite never saw the heartbeat");
    assert.ok(await suite.bus.lastHeartbeat(), "central recorded the heartbeat time in Redis");
    void central;
    void satellite;
  });

  test("the watchdog alarm fires once after the configured threshold and re-arms on the next heartbeat", async () => {
    await startPi({ GATEWAY_ROLE: "central", GATEWAY_WATCHDOG_THRESHOLD: "1500ms", GATEWAY_WATCHDOG_CHECK: "100ms" });
    const started = Date.now();
    await suite.llm.waitForRequest((r) => r.lastUserText.includes("MISSED HEARTBEAT"), 6_000);
    assert.ok(Date.now() - started >= 1_400, "not before the threshold");
    await sleep(2_000);
    const alarms = () => suite.llm.requests.filter((r) => r.lastUserText.includes("MISSED HEARTBEAT")).length;
    assert.equal(alarms(), 1, "fires once, not on every check");
    await suite.bus.push(createEvent("cron.heartbeat", "cron", {}, { id: "hb-rearm" }));
    await suite.llm.waitForRequest((r) => r.lastUserText.includes("hb-rearm"), 5_000);
    await waitFor(() => alarms() === 2, "second alarm after re-arming", 6_000);
  });

  test("Redis killed and restarted while pi runs: status shows it, events pushed after the restart are delivered", async () => {
    const { pi } = await startPi({ GATEWAY_ROLE: "central" });
    await waitRegistered("gateway");
    const since = pi.events.length;
    await suite.redis.kill("SIGKILL");
    await pi.waitForEvent(
      (e) => e.type === "extension_ui_request" && e.method === "setStatus" && /reconnecting|disconnected/.test(String(e.statusText)),
      5_000,
      since,
    );
    await sleep(1_000);
    await suite.redis.restart();
    await pi.waitForEvent((e) => e.type === "extension_ui_request" && e.method === "setStatus" && String(e.statusText).includes("🔗"), 10_000, since);
    await waitFor(() => suite.bus.push(createEvent("after.restart", "test", {}, { id: "after-restart" })).catch(() => undefined), "push after restart");
    await suite.llm.waitForRequest((r) => r.lastUserText.includes("after-restart"), 5_000);
    assert.equal(pi.events.filter((e) => e.type === "extension_error").length, 0, "no extension errors");
  });

  test("/gateway reports role, session id, connection, backlog and watchdog", async () => {
    const { pi } = await startPi({ GATEWAY_ROLE: "central" });
    await waitRegistered("gateway");
    const since = pi.events.length;
    await pi.prompt("/gateway");
    const note = await pi.waitForEvent((e) => e.type === "extension_ui_request" && e.method === "notify" && String(e.message).includes("role:"), 5_000, since);
    const text = String((note as unknown as { message: string }).message);
    assert.match(text, /role: central/);
    assert.match(text, /session id: gateway \(durable\)/);
    assert.match(text, /connected/);
    assert.match(text, /backlog: gateway=0 main=0/);
    assert.match(text, /watchdog: armed \(threshold 30m/);
  });

  test("/gateway shows the last heartbeat recorded in Redis, the same time `pi-gateway status` shows", async () => {
    const { pi } = await startPi({ GATEWAY_ROLE: "central" });
    await waitRegistered("gateway");
    // Recorded by another host (a daemon, another central): this session's watchdog has not seen it.
    const at = Date.now() - 5 * 60_000;
    await suite.bus.recordHeartbeat(at);
    const since = pi.events.length;
    await pi.prompt("/gateway");
    const note = await pi.waitForEvent((e) => e.type === "extension_ui_request" && e.method === "notify" && String(e.message).includes("role:"), 5_000, since);
    assert.match(String((note as unknown as { message: string }).message), new RegExp(`last heartbeat: ${new Date(at).toISOString()};`));
    const status = await runCli(["status", "--json", "--redis-url", suite.redis.url]);
    assert.equal((JSON.parse(status.stdout) as { lastHeartbeat: number }).lastHeartbeat, at);
  });

  test("the agent's reply to a gateway event is journaled as `replied` (for pi-gateway tail); a HEARTBEAT_OK reply is not", async () => {
    suite.llm.setResponder((r) =>
      r.lastUserText.includes("cron.heartbeat") ? { text: "HEARTBEAT_OK" } : { text: "Deploy checked: all green.\nDetails follow." },
    );
    const { pi } = await startPi({ GATEWAY_ROLE: "central" });
    await waitRegistered("gateway");
    redisCli("LPUSH", "agent:events:main", '{"id":"dep-1","type":"deploy.done","source":"ci","payload":{},"ts":0}');
    redisCli("PUBLISH", "agent:notify:main", "dep-1");
    const replied = async () => (await suite.bus.journal(100)).filter((e) => e.kind === "replied");
    const [entry] = await waitFor(
      async () => {
        const found = await replied();
        return found.length ? found : undefined;
      },
      "a replied entry",
      10_000,
    );
    assert.deepEqual(
      { channel: entry!.channel, type: entry!.type, source: entry!.source, sessions: entry!.sessions, reply: entry!.reply },
      { channel: "extension", type: "deploy.done", source: "ci", sessions: ["gateway"], reply: "Deploy checked: all green." },
    );
    const since = pi.events.length;
    await suite.bus.push(createEvent("cron.heartbeat", "cron", {}, { id: "hb-quiet" }));
    await suite.llm.waitForRequest((r) => r.lastUserText.includes("hb-quiet"), 5_000);
    await pi.waitForEvent((e) => e.type === "agent_end", 5_000, since);
    await sleep(500);
    const after = await replied();
    assert.equal(after.length, 1, "no entry for HEARTBEAT_OK");
    assert.ok(!JSON.stringify(await suite.bus.journal(100)).includes("HEARTBEAT_OK"));
  });

  test("heartbeat replies as the daemon treats them: **HEARTBEAT_OK** is not journaled, real news from a heartbeat is; a heartbeat that comes with real events is left out of their message", async () => {
    suite.llm.setResponder((r) => {
      if (r.lastUserText.includes("hb-ack")) return { text: "**HEARTBEAT_OK**" };
      if (r.lastUserText.includes("hb-news")) return { text: "Disk is 97% full.\nDetails follow." };
      return { text: "job handled" };
    });
    const { pi } = await startPi({ GATEWAY_ROLE: "central" });
    await waitRegistered("gateway");
    const replied = async () => (await suite.bus.journal(100)).filter((e) => e.kind === "replied");
    let since = pi.events.length;
    await suite.bus.push(createEvent("cron.heartbeat", "cron", {}, { id: "hb-ack" }));
    await suite.llm.waitForRequest((r) => r.lastUserText.includes("hb-ack"), 5_000);
    await pi.waitForEvent((e) => e.type === "agent_end", 5_000, since);
    since = pi.events.length;
    await suite.bus.push(createEvent("cron.heartbeat", "cron", {}, { id: "hb-news" }));
    const [news] = await waitFor(
      async () => {
        const found = await replied();
        return found.length ? found : undefined;
      },
      "the heartbeat's news journaled",
      10_000,
    );
    assert.deepEqual(
      { channel: news!.channel, type: news!.type, source: news!.source, reply: news!.reply },
      { channel: "extension", type: "cron.heartbeat", source: "cron", reply: "Disk is 97% full." },
    );
    await pi.waitForEvent((e) => e.type === "agent_end", 5_000, since);
    assert.equal((await replied()).length, 1, "nothing for the emphasised HEARTBEAT_OK");
    assert.ok(!JSON.stringify(await suite.bus.journal(100)).includes("HEARTBEAT_OK"));

    // One LPUSH: the heartbeat and a job arrive in one batch.
    const before = (await suite.bus.lastHeartbeat()) ?? 0;
    const mixedBeat = '{"id":"mixed-beat","type":"cron.heartbeat","source":"cron","payload":{},"ts":0}';
    redisCli("LPUSH", "agent:events:main", mixedBeat, '{"id":"mixed-job","type":"job.done","source":"worker","payload":{},"ts":0}');
    redisCli("PUBLISH", "agent:notify:main", "mixed");
    const request = await suite.llm.waitForRequest((r) => r.lastUserText.includes("mixed-job"), 5_000);
    assert.match(request.lastUserText, /1 gateway event \(/);
    assert.doesNotMatch(request.lastUserText, /mixed-beat|HEARTBEAT\.md|HEARTBEAT_OK/, "the job's message carries no heartbeat");
    assert.equal(suite.llm.requests.filter((r) => r.lastUserText.includes("mixed-beat")).length, 0, "and no heartbeat turn of its own");
    await waitFor(async () => ((await suite.bus.lastHeartbeat()) ?? 0) > before, "the heartbeat still recorded");
    await waitFor(async () => (await suite.bus.pending("main")) + (await suite.bus.client.hlen(suite.bus.keys.inflight("main"))) === 0, "both acknowledged");
  });

  test("heartbeat: idle => a turn that asks for HEARTBEAT.md and HEARTBEAT_OK; busy => no turn, but the watchdog is fed", async () => {
    const { pi, piEnv } = await startPi({ GATEWAY_ROLE: "central", GATEWAY_HEARTBEAT_FILE: "/srv/agent/HEARTBEAT.md" });
    await waitRegistered("gateway");
    await suite.bus.push(createEvent("cron.heartbeat", "cron", {}, { id: "hb-idle" }));
    const request = await suite.llm.waitForRequest((r) => r.lastUserText.includes("hb-idle"), 5_000);
    assert.match(request.lastUserText, /read \/srv\/agent\/HEARTBEAT.md .* reply exactly HEARTBEAT_OK/);
    await pi.waitForEvent((e) => e.type === "agent_end", 5_000);

    suite.llm.setResponder((r) => (r.lastUserText === "busy now" ? { text: "working on it step by step", chunkDelayMs: 150 } : { text: "ok" }));
    const since = pi.events.length;
    await pi.prompt("busy now");
    await pi.waitForEvent((e) => e.type === "message_update", 5_000, since);
    const before = (await suite.bus.lastHeartbeat()) ?? 0;
    await suite.bus.push(createEvent("cron.heartbeat", "cron", {}, { id: "hb-busy" }));
    await waitFor(async () => ((await suite.bus.lastHeartbeat()) ?? 0) > before, "heartbeat recorded while busy");
    await pi.waitForEvent((e) => e.type === "agent_end", 10_000, since);
    await sleep(700);
    assert.equal(suite.llm.requests.filter((r) => JSON.stringify(r.body).includes("hb-busy")).length, 0, "no heartbeat turn while busy");
    assert.equal(await suite.bus.pending("gateway"), 0, "acknowledged, not left queued");
    void piEnv;
  });

  test("a wrong password: the extension says so at once (notice, ⛔ in the status bar, /gateway) instead of waiting forever; pi runs on", async () => {
    const locked = await startRedis({ password: "right-one" });
    cleanups.push(() => locked.stop());
    const { pi } = await startPi({ GATEWAY_ROLE: "central", REDIS_URL: locked.url.replace("right-one", "wrong-one") });
    const text = (e: RpcEvent) => String((e as { message?: unknown }).message ?? (e as { statusText?: unknown }).statusText);
    const isUi = (method: string, pattern: RegExp) => (e: RpcEvent) => e.type === "extension_ui_request" && e.method === method && pattern.test(text(e));
    const notice = await pi.waitForEvent(isUi("notify", /refused the credentials/), 10_000);
    assert.match(text(notice), /^gateway: Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ refused the credentials \(WRONGPASS[^)]*\): check the password/);
    await pi.waitForEvent(isUi("setStatus", /^⛔ gateway not started \(\/gateway says why\)$/), 5_000);
    const since = pi.events.length;
    await pi.prompt("/gateway");
    const report = await pi.waitForEvent(isUi("notify", /^role:/), 5_000, since);
    assert.match(text(report), /^last error: Redis at .* refused the credentials/m);
  });

  test("tripwire: a central session killed with -9 is detected by its successor, which tells the agent", async () => {
    const first = await startPi({ GATEWAY_ROLE: "central", GATEWAY_WATCHDOG_CHECK: "200ms" });
    await waitRegistered("gateway");
    const info = (await suite.bus.sessions()).find((s) => s.id === "gateway")!;
    assert.ok(info.pid);
    await waitFor(async () => (await suite.bus.sessions()).find((s) => s.id === "gateway")?.watchdog === "armed", "watchdog state published");
    process.kill(info.pid, "SIGKILL");
    await first.pi.stop();
    const seq = suite.llm.requests.length;
    // The successor takes the central id once the killed one's presence lapses (GATEWAY_PRESENCE_TTL, 9 s),
    // then starts a turn: on a loaded machine that can take longer than 10 s (how fast is test/bus/death.test.ts's).
    await startPi({ GATEWAY_ROLE: "central" });
    const notice = await suite.llm.waitForRequest((r) => r.seq >= seq && r.lastUserText.includes("gateway.session.restarted"), 25_000);
    assert.match(notice.lastUserText, new RegExp(`"pid": ${info.pid}`));
  });
});
