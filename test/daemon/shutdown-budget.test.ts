/** ShutdownBudget: every step within one deadline; what timed out and what failed are both named. */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";
import { ShutdownBudget } from "../../src/daemon/shutdown.js";

test("a step that finishes, one that fails at once, one that outlives the grace; no work is no step", async () => {
  const budget = new ShutdownBudget(300);
  assert.equal(await budget.step("fine", sleep(10)), true);
  assert.equal(await budget.step("closing the Redis connection", Promise.reject(new Error("Connection is closed."))), true);
  assert.equal(await budget.step("nothing to do", undefined), true);
  const started = Date.now();
  assert.equal(await budget.step("the running turn", new Promise(() => undefined)), false);
  assert.ok(Date.now() - started < 400, "waited no longer than the grace");
  assert.deepEqual(budget.abandoned, ["the running turn"]);
  assert.deepEqual(budget.failed, [{ step: "closing the Redis connection", error: "Connection is closed." }]);
  assert.equal(budget.leftMs, 0);
  // With the grace spent, a later step gets no time but a finished one still counts as finished.
  assert.equal(await budget.step("late", Promise.resolve()), true);
});

test("a non-Error rejection is kept as its text", async () => {
  const budget = new ShutdownBudget(100);
  await budget.step("channel", Promise.reject("socket hang up"));
  assert.deepEqual(budget.failed, [{ step: "channel", error: "socket hang up" }]);
});
