/**
 * A claim bounded by bytes as well as by count (claimMaxBytes, the daemon's 2,000-event claims):
 * it stops at the budget, the rest stays pending in order for the next claim, the oldest entry is
 * always taken even when it alone is over the budget, and nothing is lost or handed out twice.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createEvent } from "../../src/protocol/event.js";
import { onSingleAndCluster } from "../helpers/redis-bus.js";

const KB = 1024;

onSingleAndCluster({ flushEach: true, bus: { claimMaxBytes: 250 * KB } }, (backend) => {
  test("a claim stops at claimMaxBytes; the rest comes in the next claims, in order, each once", async () => {
    const { bus } = backend();
    const pad = "x".repeat(100 * KB);
    for (let i = 0; i < 5; i++) await bus.push(createEvent("big", "t", { pad }, { id: `b${i}` }));
    const sizes: string[][] = [];
    for (;;) {
      const claimed = await bus.claim("main", 50);
      if (!claimed.events.length) break;
      sizes.push(claimed.events.map((e) => e.id));
      await bus.ack(
        "main",
        claimed.events.map((e) => e.id),
      );
    }
    // ~100 KB each: two fit in 250 KB, a third would not.
    assert.deepEqual(sizes, [["b0", "b1"], ["b2", "b3"], ["b4"]]);
  });

  test("the oldest entry is taken even alone over the budget; small ones behind it wait for the next claim", async () => {
    const { bus } = backend();
    await bus.push(createEvent("huge", "t", { pad: "y".repeat(300 * KB) }, { id: "h0" }));
    for (let i = 0; i < 3; i++) await bus.push(createEvent("small", "t", { i }, { id: `s${i}` }));
    const first = await bus.claim("main", 50);
    assert.deepEqual(
      first.events.map((e) => e.id),
      ["h0"],
    );
    const second = await bus.claim("main", 50);
    assert.deepEqual(
      second.events.map((e) => e.id),
      ["s0", "s1", "s2"],
    );
    assert.equal(await bus.pending("main"), 0);
  });
});
