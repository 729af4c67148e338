import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError } from "../../src/config/errors.js";
import { resolveSessionOptions, satelliteOf, watchdogThresholdFromConfig } from "../../src/config/session-options.js";

const resolve = (env: Record<string, string | undefined>) => resolveSessionOptions(env, 4321);

test("GATEWAY_ROLE unset or empty: the role is decided at start (provisionally central on the central id)", () => {
  for (const env of [{}, { GATEWAY_ROLE: "" }, { GATEWAY_ROLE: "  " }]) {
    const session = resolve(env);
    assert.equal(session.autoRole, true, JSON.stringify(env));
    assert.equal(session.role, "central");
    assert.equal(session.sessionId, "gateway");
    assert.deepEqual(session.warnings, []);
  }
});

test("GATEWAY_ROLE malformed: a warning, and the role is decided at start", () => {
  const session = resolve({ GATEWAY_ROLE: "centrl" });
  assert.equal(session.autoRole, true);
  assert.match(session.warnings[0]!, /GATEWAY_ROLE="centrl" is not central or satellite; deciding by itself/);
});

test("GATEWAY_ROLE explicit (any case): as asked, never decided at start", () => {
  const central = resolve({ GATEWAY_ROLE: "Central" });
  assert.deepEqual([central.role, central.autoRole, central.sessionId, central.durable], ["central", false, "gateway", true]);
  const satellite = resolve({ GATEWAY_ROLE: "satellite" });
  assert.deepEqual([satellite.role, satellite.autoRole, satellite.sessionId, satellite.durable], ["satellite", false, "pid-4321", false]);
});

test("GATEWAY_ID without a role: a named satellite, as before; with a malformed role it says so", () => {
  const named = resolve({ GATEWAY_ID: "worker-1" });
  assert.deepEqual([named.role, named.autoRole, named.sessionId, named.explicitId, named.durable], ["satellite", false, "worker-1", "worker-1", true]);
  assert.match(resolve({ GATEWAY_ID: "worker-1", GATEWAY_ROLE: "x" }).warnings[0]!, /running as satellite worker-1/);
  const invalid = resolve({ GATEWAY_ID: "has space" });
  assert.equal(invalid.explicitId, undefined);
  assert.equal(invalid.autoRole, true, "an ignored GATEWAY_ID leaves the default");
});

test("satelliteOf: what an automatic role becomes when the central id is held", () => {
  const satellite = satelliteOf(resolve({}), 99);
  assert.deepEqual([satellite.role, satellite.sessionId, satellite.durable, satellite.autoRole], ["satellite", "pid-99", false, true]);
});

test("durations and GATEWAY_DELIVER_AS go through the schema: blank means the default, a bad value is one ConfigError line", () => {
  const defaults = resolve({
    GATEWAY_ACCEPT_TIMEOUT: " ",
    GATEWAY_HEARTBEAT_INTERVAL: "",
    GATEWAY_WATCHDOG_THRESHOLD: "",
    GATEWAY_WATCHDOG_CHECK: "",
    GATEWAY_DELIVER_AS: "",
  });
  assert.deepEqual(
    [defaults.acceptTimeoutMs, defaults.heartbeatIntervalMs, defaults.watchdogThresholdMs, defaults.watchdogCheckMs, defaults.deliverAs],
    [2_000, 900_000, 1_800_000, 60_000, "followUp"],
  );
  const set = resolve({ GATEWAY_HEARTBEAT_INTERVAL: "1m", GATEWAY_WATCHDOG_CHECK: "200ms", GATEWAY_DELIVER_AS: "steer" });
  assert.deepEqual([set.heartbeatIntervalMs, set.watchdogThresholdMs, set.watchdogCheckMs, set.deliverAs], [60_000, 120_000, 200, "steer"]);
  const cases: Array<[Record<string, string>, string]> = [
    [{ GATEWAY_HEARTBEAT_INTERVAL: "15" }, 'GATEWAY_HEARTBEAT_INTERVAL="15" is not a duration (expected e.g. 500ms, 30s, 15m, 2h)'],
    [{ GATEWAY_WATCHDOG_THRESHOLD: "0" }, 'GATEWAY_WATCHDOG_THRESHOLD="0" is not more than 0 (expected e.g. 500ms, 30s, 15m, 2h)'],
    [{ GATEWAY_ACCEPT_TIMEOUT: "-2s" }, 'GATEWAY_ACCEPT_TIMEOUT="-2s" is not a duration (expected e.g. 500ms, 30s, 15m, 2h)'],
    [{ GATEWAY_DELIVER_AS: "later" }, 'GATEWAY_DELIVER_AS="later" is not followUp or steer (expected one of followUp, steer)'],
  ];
  for (const [env, line] of cases) {
    assert.throws(
      () => resolve(env),
      (error: Error) => error instanceof ConfigError && error.message === line,
      JSON.stringify(env),
    );
  }
});

test("watchdog fields in Redis's shared config: the same duration parser; a bad one is ignored, not fatal for every session", () => {
  assert.equal(watchdogThresholdFromConfig({ watchdogThreshold: "10m" }, {}), 600_000);
  assert.equal(watchdogThresholdFromConfig({ heartbeatInterval: "5m" }, {}), 600_000);
  assert.equal(watchdogThresholdFromConfig({ watchdogThreshold: "soon" }, {}), undefined);
  assert.equal(watchdogThresholdFromConfig({ watchdogThreshold: "600000" }, {}), undefined, "no unit: refused like everywhere");
  assert.equal(watchdogThresholdFromConfig({ watchdogThreshold: "10m" }, { GATEWAY_WATCHDOG_THRESHOLD: "1m" }), undefined, "the environment wins");
  assert.equal(watchdogThresholdFromConfig({ watchdogThreshold: "10m" }, { GATEWAY_WATCHDOG_THRESHOLD: " " }), 600_000, "blank is unset");
});
