/**
 * The daemon's live heap: V8's heap in use right after the latest full (mark-compact) collection.
 * `heapUsed` or RSS at a random moment also count garbage V8 has not collected yet, which under load
 * swings by more than the heap itself (issue #13: RSS 180–335 MiB around a live heap of ~52 MiB), so
 * a leak shows first and clearly in this figure. Read from Node's `gc` performance entries: no
 * `--expose-gc`, no extra collection.
 *
 * `processMemory()` is what every session publishes of its process in its record (`memory` in
 * `pi-gateway sessions --json`): a pi's memory is the extension's process's, which nothing outside
 * it can read (the soak judges a pi by its live heap, test/chaos/restart-soak.ts).
 */
import { constants, PerformanceObserver } from "node:perf_hooks";
import type { ProcessMemory } from "./memory-types.js";

export type { ProcessMemory };

export interface LiveHeapWatch {
  /** Heap in use (bytes) when the latest full collection had finished; undefined before the first. */
  bytes(): number | undefined;
  stop(): void;
}

export function watchLiveHeap(): LiveHeapWatch {
  let live: number | undefined;
  const observer = new PerformanceObserver((list) => {
    // Entries arrive batched, a moment after their collection: the heap right now is the closest
    // figure to "just after" there is, and a little above it, never below.
    if (list.getEntries().some((entry) => (entry as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR)) {
      live = process.memoryUsage().heapUsed;
    }
  });
  observer.observe({ entryTypes: ["gc"] });
  return {
    bytes: () => live,
    stop: () => observer.disconnect(),
  };
}

let processWatch: LiveHeapWatch | undefined;

/**
 * This process's memory now. The first call starts a watch of full collections for the whole
 * process (one gc performance observer, kept for its life: a few entries per collection), so the
 * live heap is known from the first full collection after it.
 */
export function processMemory(): ProcessMemory {
  processWatch ??= watchLiveHeap();
  const { rss, heapUsed, external } = process.memoryUsage();
  const liveHeap = processWatch.bytes();
  return { rss, heapUsed, external, ...(liveHeap !== undefined ? { liveHeap } : {}), at: Date.now() };
}
