/**
 * The gateway tools against a private Redis, called the way pi calls them (`execute`): each bad
 * input is one line the model reads (pi reports a thrown error as an isError result) and stores
 * nothing; Redis trouble ends within the tool's time bound; a message goes to its target alone,
 * with this session as its origin.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { ExtensionContext } from "@mariozechner/pi-coding-agent";
import { GatewayBus } from "../../src/bus/bus.js";
import { createClient } from "../../src/bus/connection.js";
import { resolveBusOptions } from "../../src/config/bus-options.js";
import { gatewayTools, withGateway, type AnyPiTool, type GatewayToolContext } from "../../src/host/tools/index.js";
import { silentLogger } from "../../src/util/logger.js";
import { useRedisBus } from "../helpers/redis-bus.js";

let bus: GatewayBus;
useRedisBus({ flushEach: true }, (_r, b) => {
  bus = b;
});

const cwd = mkdtempSync(join(tmpdir(), "gw-tools-"));
writeFileSync(join(cwd, "report.txt"), "ok\n");
mkdirSync(join(cwd, "dir"));
symlinkSync(join(cwd, "report.txt"), join(cwd, "link.txt"));

function tools(overrides: Partial<GatewayToolContext> = {}): Record<string, AnyPiTool> {
  const ctx: GatewayToolContext = { bus: () => bus, sessionId: () => "sat-1", logger: () => silentLogger, ...overrides };
  return Object.fromEntries(gatewayTools(ctx).map((t) => [t.name, t]));
}

async function call(name: string, params: Record<string, unknown>, overrides: Partial<GatewayToolContext> = {}): Promise<{ text: string; details: unknown }> {
  const tool = tools(overrides)[name]!;
  const result = await tool.execute("call-1", params, undefined, undefined, { cwd } as ExtensionContext);
  return { text: (result.content[0] as { text: string }).text, details: result.details };
}

async function refused(name: string, params: Record<string, unknown>, expected: RegExp, overrides: Partial<GatewayToolContext> = {}): Promise<void> {
  await assert.rejects(call(name, params, overrides), (error: Error) => {
    assert.match(error.message, expected);
    assert.doesNotMatch(error.message, /\n/, "one line");
    return true;
  });
}

describe("gateway tool input", () => {
  test("gateway_schedule: each bad time, id or text is refused and nothing is stored", async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ text: "x", in: "-5s" }, /in/],
      [{ text: "x", in: "0s" }, /^in must be more than zero/],
      [{ text: "x", in: "" }, /^invalid in/],
      [{ text: "x", in: "soon" }, /^invalid in/],
      [{ text: "x", cron: "bogus" }, /^invalid cron pattern "bogus"/],
      [{ text: "x", cron: "0 0 30 2 *" }, /never fires|invalid cron/],
      [{ text: "x", cron: "0 9 * * *", timezone: "Mars/Olympus" }, /time zone Mars\/Olympus|invalid/],
      [{ text: "x", in: "1m", timezone: "Europe/Berlin" }, /^timezone only applies to cron$/],
      [{ text: "x", at: "2020-01-01T00:00:00Z" }, /^at 2020-01-01T00:00:00Z is in the past$/],
      [{ text: "x", at: "2099-01-01T00:00:00" }, /^invalid at time/],
      [{ text: "x", at: "2099-01-01T00:00:00Z", in: "1m", cron: "* * * * *" }, /^give only one of at, in, cron \(got at and in and cron\)$/],
      [{ text: "x" }, /^give one of at, in or cron$/],
      [{ text: " \n ", in: "1m" }, /^the schedule's text is empty$/],
      [{ text: "x".repeat(4_001), in: "1m" }, /^invalid arguments for gateway_schedule: text: must not have more than 4000 characters$/],
      [{ text: "x", in: "1m", id: "../../etc" }, /^invalid schedule id/],
      [{ text: "x", in: "1m", id: "a\nb" }, /^invalid schedule id "a\\nb" \(1-64/],
    ];
    for (const [params, expected] of cases) await refused("gateway_schedule", params, expected);
    assert.deepEqual(await bus.schedules.list(), []);
  });

  test("gateway_schedule stores it for this session, made by this session; an id replaces", async () => {
    const first = await call("gateway_schedule", { text: "wake", in: "10m", id: "w1" });
    assert.match(first.text, /^scheduled w1 for sat-1: once at \S+ \(in (9m59s|10m)/);
    const second = await call("gateway_schedule", { text: "wake later", in: "20m", id: "w1" });
    assert.match(second.text, /^replaced w1 for sat-1/);
    const [stored] = await bus.schedules.list();
    assert.equal(stored?.session, "sat-1");
    assert.equal(stored?.createdBy, "sat-1");
    assert.equal(stored?.text, "wake later");
    assert.equal((await call("gateway_unschedule", { id: "w1" })).text, "cancelled schedule w1");
    await refused("gateway_unschedule", { id: "w1" }, /^no schedule "w1"/);
    assert.equal((await call("gateway_schedules", {})).text, "no schedules");
  });

  test("gateway_notify: the file must be an existing regular file, stored as an absolute path", async () => {
    await refused("gateway_notify", { text: "x", file: "missing.txt" }, new RegExp(`^file ${cwd}/missing\\.txt does not exist$`));
    await refused("gateway_notify", { text: "x", file: "dir" }, /is not a regular file/);
    await refused("gateway_notify", { text: "x", file: "" }, /^file is empty/);
    await refused("gateway_notify", { text: "x", file: "a\u0000b" }, /NUL/);
    await refused("gateway_notify", { text: "  " }, /^the notification's text is empty$/);
    await refused("gateway_notify", { text: "x".repeat(4_001) }, /^invalid arguments for gateway_notify: text: must not have more than 4000 characters$/);
    assert.equal(await bus.notifications.pendingCount(), 0, "nothing stored");
    const sent = await call("gateway_notify", { text: "done", file: "link.txt" });
    assert.match(sent.text, /no daemon runs now: it is kept in Redis/);
    const [notice] = await bus.notifications.pending();
    assert.deepEqual({ text: notice?.text, from: notice?.from, file: notice?.file }, { text: "done", from: "sat-1", file: join(cwd, "link.txt") });
  });

  test("gateway_send: to the target alone with this session as origin; self, unknown, dead and malformed are refused", async () => {
    await bus.register({ id: "gateway", role: "central", durable: true, instance: "c" });
    await bus.register({ id: "sat-1", role: "satellite", durable: false, instance: "s" });
    await bus.register({ id: "sat-2", role: "satellite", durable: false, instance: "t" });
    const sent = await call("gateway_send", { session: "sat-2", text: "hello" });
    assert.match(sent.text, /^sent to sat-2 \(event \S+\)/);
    assert.equal(await bus.pending("sat-2"), 1);
    assert.equal(await bus.pending("gateway"), 0, "not fanned out to the central");
    assert.equal(await bus.pending("sat-1"), 0, "not back to the sender");
    const { events } = await bus.claim("sat-2", 10);
    assert.equal(events[0]?.type, "session.message");
    assert.equal(events[0]?.originSession, "sat-1");
    assert.deepEqual(events[0]?.payload, { from: "sat-1", text: "hello" });
    await refused("gateway_send", { session: "sat-1", text: "hi" }, /^"sat-1" is this session/);
    await refused("gateway_send", { session: "nobody", text: "hi" }, /^unknown session "nobody"; live sessions: gateway, sat-2$/);
    await refused("gateway_send", { session: "bad id", text: "hi" }, /^invalid session id "bad id"/);
    await refused("gateway_send", { session: "gateway", text: "" }, /^the message's text is empty$/);
    const shortLived = new GatewayBus(bus.client, { ...bus.options, presenceTtlMs: 1 });
    await shortLived.register({ id: "gone", role: "satellite", durable: false, instance: "g" });
    await new Promise((resolve) => setTimeout(resolve, 20));
    await refused("gateway_send", { session: "gone", text: "hi" }, /^session "gone" is not live .*; live sessions: gateway, sat-2$/);
  });

  test("gateway_sessions lists role, presence, owner and backlog", async () => {
    await bus.register({ id: "gateway", role: "central", durable: true, instance: "c", kind: "daemon", pid: 4242 });
    await bus.register({ id: "sat-1", role: "satellite", durable: false, instance: "s", kind: "pi" });
    const { text } = await call("gateway_sessions", {});
    assert.match(text, /^gateway: central, durable, live, daemon pid 4242 on \S+, backlog 0 waiting, 0 in flight$/m);
    assert.match(text, /^sat-1 \(this session\): satellite, live, pi pid \d+ on \S+, backlog 0 waiting, 0 in flight$/m);
  });
});

describe("gateway tools without the gateway", () => {
  test("no bus: not running; no session id yet: says so", async () => {
    await refused("gateway_sessions", {}, /^the gateway is not running in this session/, { bus: () => undefined });
    await refused("gateway_sessions", {}, /^the gateway has not decided this session's id yet/, { sessionId: () => undefined });
  });

  test("no bus yet while connecting (the extension before Redis first answered): waits its bounded time, takes the bus once there", async () => {
    const start = Date.now();
    await refused("gateway_sessions", {}, /^Redis is unreachable \(not reached since the session started; waited 300 ms\): could not /, {
      bus: () => undefined,
      connecting: () => true,
      timeoutMs: 300,
    });
    assert.ok(Date.now() - start < 1_500, `took ${Date.now() - start} ms`);
    await bus.register({ id: "sat-1", role: "satellite", durable: false, instance: "s", kind: "pi" });
    let arrived: GatewayBus | undefined;
    setTimeout(() => (arrived = bus), 200);
    const { text } = await call("gateway_sessions", {}, { bus: () => arrived, connecting: () => true, timeoutMs: 2_000 });
    assert.match(text, /^sat-1 \(this session\): satellite, live/m);
  });

  test("Redis unreachable: refused within the time bound, nothing queued", async () => {
    const options = resolveBusOptions({ redisUrl: "redis://127.0.0.1:1" });
    const down = new GatewayBus(createClient(options.redisUrl, { name: "down", persistent: true, connectTimeoutMs: options.connectTimeoutMs }), options);
    down.client.connect().catch(() => undefined);
    try {
      const start = Date.now();
      await refused(
        "gateway_notify",
        { text: "x" },
        /^Redis is unreachable \(connection \w+ for 300 ms\): could not store the notification; nothing was done/,
        {
          bus: () => down,
          timeoutMs: 300,
        },
      );
      assert.ok(Date.now() - start < 1_500, `took ${Date.now() - start} ms`);
    } finally {
      down.disconnect();
    }
  });

  test("Redis that does not answer: refused when the time is up", async () => {
    const ctx: GatewayToolContext = { bus: () => bus, sessionId: () => "s", logger: () => silentLogger, timeoutMs: 200 };
    const start = Date.now();
    await assert.rejects(
      withGateway(ctx, "list the sessions", () => new Promise(() => undefined)),
      /^ToolFailure: Redis did not answer within 200 ms: could not list the sessions/,
    );
    assert.ok(Date.now() - start < 1_000);
  });
});
