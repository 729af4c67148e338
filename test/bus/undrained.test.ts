/**
 * Nothing silent: a push whose event lands in a queue no live session drains says so (on stderr,
 * exit 0; `undrained` in --json), from one answer of the push script, which knows who drains what
 * (a session's own queue, and `main` for a live central, which drains the legacy queue too).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { GatewayBus } from "../../src/bus/bus.js";
import { EventConsumer } from "../../src/bus/consumer.js";
import { extraQueuesFor } from "../../src/host/ownership.js";
import { GatewayBus as Bus } from "../../src/bus/bus.js";
import { createEvent } from "../../src/protocol/event.js";
import { runCli } from "../helpers/cli.js";
import type { RedisServer } from "../helpers/redis-server.js";
import { useRedisBus } from "../helpers/redis-bus.js";
import { waitFor } from "../helpers/wait.js";

let redis: RedisServer;
let bus: GatewayBus;
let env: Record<string, string>;
useRedisBus({ flushEach: true }, (r, b) => {
  redis = r;
  bus = b;
  env = { REDIS_URL: redis.url, GATEWAY_SESSION_ID: "" };
});

describe("the push's answer names the queues nobody drains now", () => {
  test("nobody registered: queued for main, which nobody drains", async () => {
    const result = await bus.push(createEvent("a.b", "t"));
    assert.deepEqual(result.sessions, ["main"]);
    assert.deepEqual(result.undrained, ["main"]);
  });

  test("a durable central that stopped keeps collecting, undrained; a live satellite target is drained", async () => {
    await bus.register({ id: "gateway", role: "central", durable: true, instance: "a", queues: ["gateway", "main"] });
    await bus.unregister("gateway", "a");
    await bus.register({ id: "sat", role: "satellite", durable: false, instance: "b", queues: ["sat"] });
    const result = await bus.push(createEvent("a.b", "t"), { target: "sat" });
    assert.deepEqual(result.sessions, ["gateway", "sat"]);
    assert.deepEqual(result.undrained, ["gateway"]);
  });

  test("a queue is drained by whoever lists it in `drains`, not only by the session of that name", async () => {
    // No central: an untargeted event goes to main, which this live satellite drains besides its own queue.
    await bus.register({ id: "sat", role: "satellite", durable: false, instance: "b", queues: ["sat", "main"] });
    assert.deepEqual(await bus.push(createEvent("x", "t")).then((r) => [r.sessions, r.undrained]), [["main"], []]);
    await bus.client.zadd(bus.keys.presence, 1, "sat"); // its presence lapsed
    assert.deepEqual((await bus.push(createEvent("y", "t"))).undrained, ["main"]);
  });

  test("a session registered without `drains` (an older version) counts as draining its own queue", async () => {
    await bus.register({ id: "gateway", role: "central", durable: true, instance: "a" });
    assert.deepEqual((await bus.push(createEvent("x", "t"))).undrained, []);
  });

  test("a real consumer registers what it drains (central: its id and main)", async () => {
    const consumerBus = await Bus.connect({ redisUrl: redis.url, persistent: true });
    const consumer = new EventConsumer({
      bus: consumerBus,
      sessionId: "gateway",
      role: "central",
      durable: true,
      extraQueues: ["main"],
      deliver: async () => undefined,
    });
    try {
      await consumer.start();
      assert.equal(await bus.client.hget(bus.keys.sessionInfo("gateway"), "drains"), "gateway,main");
      assert.deepEqual((await bus.push(createEvent("x", "t"))).undrained, []);
    } finally {
      await consumer.stop();
      await consumerBus.close();
    }
    assert.deepEqual((await bus.push(createEvent("y", "t"))).undrained, ["gateway"], "stopped: its queue waits");
  });
});

describe("who drains the legacy main queue", () => {
  test("only the central id's owner: a second central under another id leaves main alone, so raw producers' events are not split", async () => {
    assert.deepEqual(extraQueuesFor("gateway", "central", "main"), ["main"]);
    assert.deepEqual(extraQueuesFor("other", "central", "main"), []);
    assert.deepEqual(extraQueuesFor("gateway", "satellite", "main"), []);
    const got = new Map<string, string[]>();
    const consumers: Array<{ consumer: EventConsumer; consumerBus: GatewayBus }> = [];
    for (const sid of ["gateway", "other"]) {
      const consumerBus = await Bus.connect({ redisUrl: redis.url, persistent: true });
      const consumer = new EventConsumer({
        bus: consumerBus,
        sessionId: sid,
        role: "central",
        durable: true,
        extraQueues: extraQueuesFor(sid, "central", "main"),
        deliver: async ({ events }) => void got.set(sid, [...(got.get(sid) ?? []), ...events.map((e) => e.id)]),
      });
      await consumer.start();
      consumers.push({ consumer, consumerBus });
    }
    try {
      for (let i = 0; i < 40; i++) {
        await bus.client.lpush(bus.keys.events("main"), JSON.stringify({ id: `raw-${i}`, type: "t", source: "redis-cli", payload: {}, ts: 0 }));
        await bus.client.publish(bus.keys.notify("main"), "x");
      }
      await waitFor(() => (got.get("gateway")?.length ?? 0) === 40, "all 40 raw events at the central id's owner", 10_000);
      assert.equal(got.get("other")?.length ?? 0, 0, "none at the other central");
    } finally {
      for (const { consumer, consumerBus } of consumers) {
        await consumer.stop();
        await consumerBus.close();
      }
    }
  });
});

describe("pi-gateway push", () => {
  test("to a queue nobody drains: a line on stderr, exit 0, `undrained` in --json", async () => {
    const human = await runCli(["push", "job.done"], { env });
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^pushed job\.done \S+ -> main\n$/);
    assert.equal(human.stderr, "pi-gateway: queued for 'main': no live session drains it now; it will be delivered when one starts\n");

    const json = await runCli(["push", "job.done", "--json"], { env });
    assert.equal(json.code, 0, json.stderr);
    const out = JSON.parse(json.stdout) as { undrained: string[]; duplicate: boolean; sessions: string[] };
    assert.deepEqual(out.undrained, ["main"]);
    assert.deepEqual(out.sessions, ["main"]);
    assert.equal(out.duplicate, false);
  });

  test("with a live session draining the queue: nothing on stderr, `undrained` empty", async () => {
    await bus.register({ id: "gateway", role: "central", durable: true, instance: "a", queues: ["gateway", "main"] });
    const human = await runCli(["push", "job.done"], { env });
    assert.equal(human.code, 0);
    assert.equal(human.stderr, "");
    const json = await runCli(["push", "job.done", "--json"], { env });
    assert.deepEqual((JSON.parse(json.stdout) as { undrained: string[] }).undrained, []);
  });
});
