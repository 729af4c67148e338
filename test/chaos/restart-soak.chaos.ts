/**
 * RESTART SOAK, the chaos suite's 2-minute variant (issue #17 item 5; `npm run soak -- --minutes N`
 * runs it long): events through the daemon and through a real pi with the extension, Redis (AOF)
 * stopped and started again, the daemon restarted after SIGTERM and after SIGKILL (restart-soak.ts).
 *
 * Asserts: every restart went through; every event reached the daemon's LLM and the pi's (those
 * for it) and is recorded once in each session; no figure (RSS, heap, fds, Redis keys and memory)
 * grows beyond the rule of soak-growth.ts.
 * Knobs: CHAOS_RESTART_SOAK_SECONDS (default 120), CHAOS_RESTART_SOAK_RATE (daemon ev/s, 10),
 * CHAOS_RESTART_SOAK_PI_RATE (1), CHAOS_RESTART_SOAK_REDIS_EVERY / _DAEMON_EVERY (seconds, 60 / 40).
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { envNumber, killAll } from "./harness.js";
import { reportRestartSoak, runRestartSoak, type RestartSoakOptions } from "./restart-soak.js";
import { verdictText } from "./soak-growth.js";

const options: RestartSoakOptions = {
  seconds: envNumber("CHAOS_RESTART_SOAK_SECONDS", 120),
  daemonRate: envNumber("CHAOS_RESTART_SOAK_RATE", 10),
  piRate: envNumber("CHAOS_RESTART_SOAK_PI_RATE", 1),
  redisRestartEveryMs: envNumber("CHAOS_RESTART_SOAK_REDIS_EVERY", 60) * 1000,
  daemonRestartEveryMs: envNumber("CHAOS_RESTART_SOAK_DAEMON_EVERY", 40) * 1000,
  redisDownMs: 2_000,
  reportEveryMs: 60_000,
};

const cleanups: Array<() => unknown> = [];
after(async () => {
  await killAll();
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
});

test(`RESTART SOAK: ${options.seconds}s with Redis and daemon restarts`, { timeout: (options.seconds + 400) * 1000 }, async () => {
  const r = await runRestartSoak(options, cleanups, (line) => process.stdout.write(`${line}\n`));
  reportRestartSoak("RESTART SOAK", r);
  assert.deepEqual(r.restarts.failed, [], "every restart went through");
  assert.ok(r.restarts.redis >= 1 && r.restarts.term >= 1 && r.restarts.kill >= 1, `restarts: ${JSON.stringify(r.restarts)}`);
  for (const [what, t] of Object.entries({ "daemon LLM": r.daemonLlm, "daemon session": r.daemonSession, "pi LLM": r.piLlm, "pi session": r.piSession })) {
    assert.deepEqual(t.missing.slice(0, 20), [], `${what}: none missing (${t.missing.length})`);
    assert.deepEqual(t.twice.slice(0, 20), [], `${what}: none twice (${t.twice.length})`);
  }
  for (const v of r.growth) assert.ok(v.ok, `${verdictText(v)}; ${r.rule}`);
});
