/**
 * A consumer under a deep backlog (a central at thousands of events/s, chaos LOAD).
 *
 * It takes more per claim (EventConsumer's maxClaim): with appendfsync
 * always each claim and ack waits for an fsync, so a deep backlog is drained in fewer, bigger round
 * trips. Claims double while they come back full and return to batchSize once one comes back
 * short, so a quiet session still gets small batches. Without maxClaim nothing changes.
 *
 * Notifications that arrive while a drain runs (one per pushed event) only ask that drain to run
 * once more: they add nothing to it, so a failed drain is reported once, not once per notification.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { GatewayBus } from "../../src/bus/bus.js";
import { EventConsumer } from "../../src/bus/consumer.js";
import { createEvent } from "../../src/protocol/event.js";
import { onSingleAndCluster } from "../helpers/redis-bus.js";
import { waitFor } from "../helpers/wait.js";

onSingleAndCluster({ aof: true, flushEach: true }, (backend) => {
  /** Leaves `count` events waiting in the durable central `c`'s queue (registered, then stopped). */
  async function backlog(count: number): Promise<string[]> {
    const { bus } = backend();
    await bus.register({ id: "c", role: "central", durable: true, instance: "earlier", queues: ["c"] });
    await bus.unregister("c", "earlier");
    const ids = Array.from({ length: count }, (_, i) => `e-${i}`);
    for (let i = 0; i < ids.length; i += 100) {
      await Promise.all(ids.slice(i, i + 100).map((id) => bus.push(createEvent("t.backlog", "test", {}, { id }))));
    }
    assert.equal(await bus.pending("c"), count);
    return ids;
  }

  /** Drains `c` with batchSize 50 and the given maxClaim; resolves with each delivered batch's size. */
  async function drain(maxClaim: number | undefined, expected: number, thenPush: string[] = []): Promise<{ sizes: number[]; ids: string[] }> {
    const consumerBus = await GatewayBus.connect({ redisUrl: backend().url, persistent: true, batchSize: 50 });
    const sizes: number[] = [];
    const ids: string[] = [];
    const consumer = new EventConsumer({
      bus: consumerBus,
      sessionId: "c",
      role: "central",
      durable: true,
      maxClaim,
      deliver: async ({ events }) => {
        sizes.push(events.length);
        ids.push(...events.map((e) => e.id));
      },
    });
    try {
      await consumer.start();
      await waitFor(() => ids.length >= expected, `${expected} delivered`, 15_000);
      for (const id of thenPush) await backend().bus.push(createEvent("t.later", "test", {}, { id }));
      await waitFor(() => ids.length >= expected + thenPush.length, "the later events delivered", 15_000);
    } finally {
      await consumer.stop();
      await consumerBus.close();
    }
    return { sizes, ids };
  }

  test("claims double while they come back full, up to maxClaim, and drop back to batchSize once the backlog is gone", async () => {
    const pushed = await backlog(1_000);
    const later = ["later-1", "later-2", "later-3"];
    const { sizes, ids } = await drain(400, pushed.length, later);
    // 50 + 100 + 200 + 400 = 750; the next claim of 400 finds 250 and comes back short.
    assert.deepEqual(sizes.slice(0, 5), [50, 100, 200, 400, 250]);
    assert.deepEqual(ids, [...pushed, ...later], "every event once, in order");
    assert.ok(
      sizes.slice(5).every((n) => n <= 50),
      `after the backlog, batches are batchSize again: ${sizes.slice(5).join(", ")}`,
    );
    assert.equal(await backend().bus.pending("c"), 0);
  });

  test("without maxClaim every claim is batchSize, however deep the backlog", async () => {
    const pushed = await backlog(300);
    const { sizes, ids } = await drain(undefined, pushed.length);
    assert.deepEqual(sizes, [50, 50, 50, 50, 50, 50]);
    assert.deepEqual(ids, pushed);
  });

  test("notifications during a drain add nothing to it: a failed drain is reported once, then retried", async () => {
    const { bus } = backend();
    const consumerBus = await GatewayBus.connect({ redisUrl: backend().url, persistent: true, pollIntervalMs: 300 });
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let calls = 0;
    const ids: string[] = [];
    const consumer = new EventConsumer({
      bus: consumerBus,
      sessionId: "c",
      role: "central",
      durable: true,
      deliver: async ({ events }) => {
        if (calls++ === 0) {
          await gate; // held while more events (and their notifications) arrive
          throw new Error("host refused the batch");
        }
        ids.push(...events.map((e) => e.id));
      },
    });
    const failures: string[] = [];
    consumer.on("drainFailed", (error) => failures.push(error.message));
    try {
      await consumer.start();
      await bus.push(createEvent("t.first", "test", {}, { id: "first" }));
      await waitFor(() => calls === 1, "the first batch in delivery", 5_000);
      for (let i = 0; i < 20; i++) await bus.push(createEvent("t.more", "test", {}, { id: `more-${i}` }));
      await sleep(500); // their notifications reach the subscriber while the drain is held
      release();
      await waitFor(() => ids.length === 21, "every event delivered after the retry", 10_000);
    } finally {
      await consumer.stop();
      await consumerBus.close();
    }
    assert.deepEqual(failures, ["host refused the batch"], "one failed drain, reported once");
    assert.deepEqual(ids, ["first", ...Array.from({ length: 20 }, (_, i) => `more-${i}`)], "handed back in order, each once");
  });
});
