/**
 * What a session publishes of its process's memory (`memory` of `pi-gateway sessions --json`).
 * Types only, free of Node imports: the web app reads session records too.
 */

/** A process's memory in bytes; `liveHeap` is the heap after its latest full GC (absent before the first). */
export interface ProcessMemory {
  rss: number;
  heapUsed: number;
  /** C++ objects bound to JS ones, Buffers included. */
  external: number;
  liveHeap?: number;
  /** When it was read (ms since the epoch, that host's clock). */
  at: number;
}
