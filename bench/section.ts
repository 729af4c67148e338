/**
 * What a benchmark section is. bench/index.ts runs the selected sections in order, each with a
 * shared context (one private redis-server for the whole run, started on first use), prints what
 * `render` returns and writes every section's result to bench/results/latest.json.
 *
 * To add a section (pi latency, daemon queue, ...): write bench/<name>.ts exporting a Section and
 * append it to SECTIONS in bench/index.ts.
 */
import type { RedisServer } from "../test/helpers/redis-server.js";

export interface BenchContext {
  /** The run's private redis-server (never port 6379), started on first call, stopped at the end. */
  redis(): Promise<RedisServer>;
  /** Progress messages; they go to stderr so `--json` keeps stdout clean. */
  log(message: string): void;
}

export interface Section<R extends Record<string, unknown> = Record<string, unknown>> {
  /** Short id, used on the command line (`bench/index.ts bus`) and as the key in the JSON. */
  name: string;
  description: string;
  run(ctx: BenchContext): Promise<R>;
  /** Human-readable report of a result (a table); the JSON is written regardless. */
  render?(result: R): string;
}

/** Lets SECTIONS hold sections with different result types. */
export function defineSection<R extends Record<string, unknown>>(section: Section<R>): Section {
  return section as unknown as Section;
}
