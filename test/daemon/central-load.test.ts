/**
 * The central under load, short (the chaos suite's CENTRAL LOAD runs it for 60 s, at any rate):
 * the built daemon (real pi SDK, fake LLM) fed by a producer process at 800 ev/s for 3 s after
 * 2 s at 80 ev/s. Every event reaches the LLM in exactly one turn, the turns grow with the load
 * past the old fixed cap of 50 events (the prompt's byte bound is what limits a turn), and the
 * backlog drains within seconds of the last push.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { reportCentralLoad, runCentralLoad, type CentralLoadOptions } from "../chaos/central-load.js";
import { killAll } from "../chaos/harness.js";

const options: CentralLoadOptions = { rate: 800, seconds: 3, producers: 1, quietSeconds: 2, llmMs: 50, aof: false };

const cleanups: Array<() => unknown> = [];
after(async () => {
  await killAll();
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
});

test("the central under a short burst of load: every event in one turn, turns grow with the load, the backlog drains", { timeout: 180_000 }, async () => {
  const r = await runCentralLoad(options, cleanups);
  reportCentralLoad("CENTRAL LOAD (short)", options, r);
  assert.ok(r.daemonAlive, `daemon alive (ended by ${r.endedBy}):\n${r.output.slice(-3000)}`);
  assert.equal(r.missing, 0, "every event recorded in the session");
  assert.equal(r.twice, 0, "no event recorded twice");
  assert.equal(r.reachedLlm, r.pushed, "every event reached the LLM once, named or summed up");
  assert.equal(r.namedTwice, 0, "no event named to the LLM twice");
  assert.equal(r.deadLettered, 0, "nothing dead-lettered");
  assert.deepEqual(r.left, { bus: 0, inFlight: 0, commands: 0 }, "nothing left in the central's queues");
  assert.ok(r.quiet && r.load.eventsPerTurn.p50 > r.quiet.eventsPerTurn.p50, `events per turn grow with the load: ${JSON.stringify([r.quiet, r.load])}`);
  assert.ok(r.load.eventsPerTurn.max > 50, `a loaded turn carries more than 50 events: max ${r.load.eventsPerTurn.max}`);
  assert.ok(r.drainMs < 10_000, `drained ${r.drainMs} ms after the last push`);
});
