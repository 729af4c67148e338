/**
 * Failing fast is for start-up and one-shot commands only. A long-lived consumer (the extension
 * starts its own in the background, before Redis may be up) keeps waiting and reconnecting: the
 * first-connection error that ends a CLI command must not end it.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { GatewayBus } from "../../src/bus/bus.js";
import { createClient } from "../../src/bus/connection.js";
import { EventConsumer } from "../../src/bus/consumer.js";
import { RedisUnreachableError, type NotAcknowledgedError } from "../../src/bus/errors.js";
import { resolveBusOptions } from "../../src/config/bus-options.js";
import { createEvent } from "../../src/protocol/event.js";
import { startRedis, type RedisServer } from "../helpers/redis-server.js";
import { sleep, waitFor } from "../helpers/wait.js";

let redis: RedisServer;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis.stop();
});

test("a consumer started while Redis is down waits, then drains once Redis is up; one-shot connects fail meanwhile", async () => {
  await redis.kill("SIGKILL");
  const options = resolveBusOptions({ redisUrl: redis.url, pollIntervalMs: 200 }, {});
  // Wired the way the extension wires it: a persistent client, connected in the background.
  const bus = new GatewayBus(createClient(options.redisUrl, { name: "long-lived", persistent: true, connectTimeoutMs: options.connectTimeoutMs }), options);
  bus.client.connect().catch(() => undefined);
  const seen: string[] = [];
  const consumer = new EventConsumer({
    bus,
    sessionId: "main",
    role: "central",
    durable: true,
    deliver: async ({ events }) => void seen.push(...events.map((e) => e.id)),
  });
  let startError: unknown;
  const started = consumer.start().catch((error: unknown) => (startError = error));
  try {
    await sleep(1_500); // longer than the 1s connect timeout that ends a CLI command
    await assert.rejects(GatewayBus.connect({ redisUrl: redis.url }), RedisUnreachableError);
    assert.equal(startError, undefined, "the consumer did not give up");

    await redis.restart();
    await started;
    assert.equal(startError, undefined);
    const producer = await GatewayBus.connect({ redisUrl: redis.url });
    await producer.push(createEvent("after.start", "test", {}, { id: "late-1" }));
    await waitFor(() => seen.includes("late-1"), "the event drained after Redis came up");

    // And after the start, an outage is ridden out too.
    await producer.close();
    await redis.kill("SIGKILL");
    await sleep(1_500);
    await redis.restart();
    const again = await GatewayBus.connect({ redisUrl: redis.url });
    await again.push(createEvent("after.outage", "test", {}, { id: "late-2" }));
    await waitFor(() => seen.includes("late-2"), "the event drained after the outage", 15_000);
    await again.close();
  } finally {
    await consumer.stop();
    bus.client.disconnect();
  }
});

test("a one-shot producer that loses Redis after connecting says so once, retries its window, ends with the classified error", async () => {
  const producer = await GatewayBus.connect({ redisUrl: redis.url });
  await redis.kill("SIGKILL");
  const told: Array<RedisUnreachableError | NotAcknowledgedError> = [];
  const started = Date.now();
  try {
    await assert.rejects(
      producer.pushWithRetry(createEvent("lost.redis", "test", {}, { id: "lost-1" }), {}, 1_500, (error) => told.push(error)),
      (error: Error) => {
        assert.ok(error instanceof RedisUnreachableError);
        assert.match(error.message, /^Redis at redis:\/\/127\.0\.0\.1:\d+ .* \(retried for 1\.5s, event lost-1 not pushed\): start it/);
        return true;
      },
    );
    assert.ok(Date.now() - started >= 1_500, "it kept its window");
    assert.equal(told.length, 1, "told once");
    assert.match(told[0]!.summary, /^Redis at redis:\/\/127\.0\.0\.1:\d+ (refused the connection|closed the connection)/);
  } finally {
    producer.client.disconnect();
    await redis.restart();
  }
});
