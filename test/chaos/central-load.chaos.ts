/**
 * CENTRAL LOAD (issue #17 item 3): the daemon's central session (the built daemon, real pi SDK,
 * fake LLM) under CHAOS_CENTRAL_RATE events/s for CHAOS_CENTRAL_SECONDS (default 60) from
 * CHAOS_CENTRAL_PRODUCERS producer processes, after 10 s at a tenth of the rate; the fake LLM
 * takes CHAOS_CENTRAL_LLM_MS per turn (default 100). central-load.ts says what is measured.
 *
 * The default rate is what a shared 2-core machine sustains through the whole daemon (README,
 * Reliability); the 5,000 ev/s is `CHAOS_CENTRAL_RATE=5000 npm run test:chaos -- central`.
 *
 * Asserts: every event reached the LLM in exactly one turn (named or summed up) and is recorded in
 * exactly one gateway message of the session, nothing dead-lettered (the central's
 * bus backlog never hit GATEWAY_BACKLOG_CAP), nothing left in its queues, the events per turn
 * grew with the load, the backlog drained within 15 s of the last push, the daemon lived.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { reportCentralLoad, runCentralLoad, type CentralLoadOptions } from "./central-load.js";
import { envNumber, killAll } from "./harness.js";

const options: CentralLoadOptions = {
  rate: envNumber("CHAOS_CENTRAL_RATE", 500),
  seconds: envNumber("CHAOS_CENTRAL_SECONDS", 60),
  producers: envNumber("CHAOS_CENTRAL_PRODUCERS", 2),
  quietSeconds: 10,
  llmMs: envNumber("CHAOS_CENTRAL_LLM_MS", 100),
  aof: process.env.CHAOS_LOAD_AOF !== "0",
  profileDir: process.env.CHAOS_CENTRAL_PROFILE || undefined,
};
const DRAIN_MAX_MS = 15_000;

const cleanups: Array<() => unknown> = [];
after(async () => {
  await killAll();
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
});

test(`CENTRAL LOAD: ${options.rate} ev/s for ${options.seconds}s into the daemon's central`, { timeout: (options.seconds + 300) * 1000 }, async () => {
  const r = await runCentralLoad(options, cleanups);
  reportCentralLoad("CENTRAL LOAD", options, r);
  assert.ok(r.daemonAlive, `daemon alive (ended by ${r.endedBy}):\n${r.output.slice(-3000)}`);
  assert.equal(r.daemonExit, 0, "daemon shut down cleanly");
  assert.equal(r.missing, 0, "every event recorded in the session");
  assert.equal(r.twice, 0, "no event recorded twice");
  assert.equal(r.reachedLlm, r.pushed, "every event reached the LLM once, named or summed up");
  assert.equal(r.namedTwice, 0, "no event named to the LLM twice");
  assert.equal(r.deadLettered, 0, "nothing dead-lettered");
  assert.deepEqual(r.left, { bus: 0, inFlight: 0, commands: 0 }, "nothing left in the central's queues");
  assert.ok(r.quiet && r.load.eventsPerTurn.p50 > r.quiet.eventsPerTurn.p50, `events per turn grow with the load: ${JSON.stringify([r.quiet, r.load])}`);
  assert.ok(r.drainMs <= DRAIN_MAX_MS, `drained ${r.drainMs} ms after the last push`);
});
