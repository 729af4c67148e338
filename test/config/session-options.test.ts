import assert from "node:assert/strict";
import { test } from "node:test";
import { resolveSessionOptions, satelliteOf } from "../../src/config/session-options.js";

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
