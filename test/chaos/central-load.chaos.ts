/**
 * CENTRAL LOAD (issue #17 item 3): the daemon's central session (real pi SDK, fake LLM) under
 * CHAOS_CENTRAL_RATE events/s (default 5,000) for CHAOS_CENTRAL_SECONDS (default 60) from
 * CHAOS_CENTRAL_PRODUCERS producer processes, after 10 s at a tenth of the rate; the fake LLM takes
 * CHAOS_CENTRAL_LLM_MS per turn (default 100). See central-load.ts for what is measured.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { reportCentralLoad, runCentralLoad, type CentralLoadOptions } from "./central-load.js";
import { envNumber, killAll } from "./harness.js";

const options: CentralLoadOptions = {
  rate: envNumber("CHAOS_CENTRAL_RATE", 5000),
  seconds: envNumber("CHAOS_CENTRAL_SECONDS", 60),
  producers: envNumber("CHAOS_CENTRAL_PRODUCERS", 2),
  quietSeconds: 10,
  llmMs: envNumber("CHAOS_CENTRAL_LLM_MS", 100),
  aof: process.env.CHAOS_LOAD_AOF !== "0",
  env: { GATEWAY_LOG_LEVEL: process.env.CHAOS_CENTRAL_LOG ?? "warn" },
};

const cleanups: Array<() => unknown> = [];
after(async () => {
  await killAll();
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
});

test(`CENTRAL LOAD: ${options.rate} ev/s for ${options.seconds}s into the daemon's central`, { timeout: (options.seconds + 300) * 1000 }, async () => {
  const r = await runCentralLoad(options, cleanups);
  reportCentralLoad("CENTRAL LOAD", options, r);
  assert.ok(r.daemonAlive, `daemon alive:\n${r.output.slice(-3000)}`);
  assert.equal(r.missing, 0, "every event reached the LLM");
  assert.equal(r.twice, 0, "no event reached the LLM twice");
  assert.equal(r.deadLettered, 0, "nothing dead-lettered");
});
