/**
 * The live heap (src/util/live-heap.ts): the heap right after the latest full GC, so memory
 * still held shows in it and garbage does not. Full collections are forced here with V8's gc().
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { watchLiveHeap } from "../../src/util/live-heap.js";
import { waitFor } from "../helpers/wait.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
const MiB = 1024 * 1024;

/** Collects fully, then waits for the watch to have seen that collection. */
async function collect(watch: ReturnType<typeof watchLiveHeap>): Promise<number> {
  const before = watch.bytes();
  let after: number | undefined;
  await waitFor(
    () => {
      gc();
      after = watch.bytes();
      return after !== undefined && after !== before;
    },
    "a full GC reported",
    5_000,
    50,
  );
  return after!;
}

test("undefined before the first full collection; then the heap after it", async () => {
  const watch = watchLiveHeap();
  try {
    assert.equal(watch.bytes(), undefined, "nothing collected since the watch started");
    const live = await collect(watch);
    assert.ok(live > 1 * MiB && live <= process.memoryUsage().heapTotal, `a plausible heap: ${live}`);
  } finally {
    watch.stop();
  }
});

test("memory still held counts, garbage does not", async () => {
  const watch = watchLiveHeap();
  try {
    const base = await collect(watch);
    // ~32 MiB of small objects on the V8 heap (not ArrayBuffers, which live outside it).
    let held: string[][] | undefined = Array.from({ length: 64 }, (_, i) => Array.from({ length: 8_192 }, (_, j) => `${i}:${j}:${"x".repeat(32)}`));
    const withHeld = await collect(watch);
    assert.ok(withHeld - base > 20 * MiB, `held memory shows: ${base} -> ${withHeld}`);
    assert.equal(held.length, 64);
    held = undefined;
    // Garbage made after the last collection does not count until the next one frees it.
    const released = await collect(watch);
    assert.ok(released - base < 8 * MiB, `released memory is gone: ${base} -> ${released}`);
  } finally {
    watch.stop();
  }
});

test("after stop() no more readings", async () => {
  const watch = watchLiveHeap();
  const live = await collect(watch);
  watch.stop();
  gc();
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(watch.bytes(), live);
});
