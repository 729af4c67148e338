import assert from "node:assert/strict";
import { test } from "node:test";
import { heartbeatInstruction, isHeartbeatAck } from "../../src/host/heartbeat.js";
import { HeartbeatWatchdog } from "../../src/host/watchdog.js";

test("HEARTBEAT_OK replies are recognised at the start or end with a short remainder only", () => {
  for (const reply of [
    "HEARTBEAT_OK",
    "  HEARTBEAT_OK.  ",
    "**HEARTBEAT_OK**",
    "`HEARTBEAT_OK`",
    "HEARTBEAT_OK — all quiet",
    "Checked everything. HEARTBEAT_OK",
  ]) {
    assert.equal(isHeartbeatAck(reply), true, reply);
  }
  for (const reply of [
    "",
    "All good",
    "The build is failing, see below. HEARTBEAT_OK is not appropriate here because x",
    `HEARTBEAT_OK\n${"x".repeat(301)}`,
    "I saw HEARTBEAT_OK in the logs but the disk is full",
  ]) {
    assert.equal(isHeartbeatAck(reply), false, reply.slice(0, 60));
  }
  assert.match(heartbeatInstruction("/home/me/HEARTBEAT.md"), /read \/home\/me\/HEARTBEAT.md .* reply exactly HEARTBEAT_OK/);
});

test("watchdog fires once past the threshold, re-arms on a heartbeat, takes fresher settings from refresh()", async () => {
  let now = 1_000_000;
  const alarms: number[] = [];
  let fresh: { thresholdMs?: number; lastHeartbeat?: number | null } = {};
  const watchdog = new HeartbeatWatchdog({
    thresholdMs: 10_000,
    checkEveryMs: 60_000,
    now: () => now,
    onAlarm: (elapsed) => alarms.push(elapsed),
    refresh: async () => fresh,
  });
  watchdog.start();
  now += 9_000;
  await watchdog.check();
  assert.deepEqual(alarms, []);
  now += 2_000;
  await watchdog.check();
  await watchdog.check();
  assert.deepEqual(alarms, [11_000], "once");
  assert.equal(watchdog.state, "alarm");
  watchdog.beat();
  assert.equal(watchdog.state, "armed");
  fresh = { thresholdMs: 60_000 };
  now += 30_000;
  await watchdog.check();
  assert.equal(alarms.length, 1, "threshold raised through refresh");
  fresh = { thresholdMs: 60_000, lastHeartbeat: now };
  now += 50_000;
  await watchdog.check();
  assert.equal(alarms.length, 1, "a heartbeat recorded elsewhere (Redis) counts");
  watchdog.stop();
});
