/**
 * GATEWAY_TURN_MAX_EVENTS, GATEWAY_TURN_MAX_BYTES and GATEWAY_TURN_SHOWN_EVENTS at their edges: unset and empty give the
 * defaults, a positive whole number is taken, anything else is refused naming the variable, and
 * `pi-gateway daemon` turns that into a usage error (exit 2) before it connects to anything.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_TURN_MAX_BYTES, DEFAULT_TURN_MAX_EVENTS } from "../../src/daemon/command-queue.js";
import { DAEMON_BATCH_SIZE, daemonBatchSize, resolveDaemonSettings } from "../../src/daemon/config.js";
import { resolveBusOptions } from "../../src/config/bus-options.js";
import { SHOWN_EVENTS_MAX } from "../../src/host/event-prompt.js";
import { runCli } from "../helpers/cli.js";

const base = { GATEWAY_TOKEN: "turn-settings-token-0123456789abcdef" };

test("unset or empty: the defaults (5,000 events, 256 KiB, 50 shown); a positive whole number is taken", () => {
  for (const env of [base, { ...base, GATEWAY_TURN_MAX_EVENTS: "", GATEWAY_TURN_MAX_BYTES: "", GATEWAY_TURN_SHOWN_EVENTS: "" }]) {
    const settings = resolveDaemonSettings(env);
    assert.equal(settings.turnShownEvents, SHOWN_EVENTS_MAX);
    assert.equal(settings.turnShownEvents, 50);
    assert.equal(settings.turnMaxEvents, DEFAULT_TURN_MAX_EVENTS);
    assert.equal(settings.turnMaxEvents, 5000);
    assert.equal(settings.turnMaxBytes, DEFAULT_TURN_MAX_BYTES);
    assert.equal(settings.turnMaxBytes, 262_144);
  }
  const set = resolveDaemonSettings({ ...base, GATEWAY_TURN_MAX_EVENTS: "1", GATEWAY_TURN_MAX_BYTES: "4096", GATEWAY_TURN_SHOWN_EVENTS: "1" });
  assert.equal(set.turnShownEvents, 1);
  assert.equal(set.turnMaxEvents, 1);
  assert.equal(set.turnMaxBytes, 4096);
});

test("0, negative, fractional or not a number: refused, naming the variable", () => {
  for (const name of ["GATEWAY_TURN_MAX_EVENTS", "GATEWAY_TURN_MAX_BYTES", "GATEWAY_TURN_SHOWN_EVENTS"]) {
    for (const value of ["0", "-3", "2.5", "lots", "50; rm -rf /"]) {
      const problem = value === "0" ? "is less than 1" : "is not a whole number";
      assert.throws(
        () => resolveDaemonSettings({ ...base, [name]: value }),
        new RegExp(`^ConfigError: ${name}="${value}" ${problem} \\(expected a whole number, at least 1\\)$`),
        `${name}=${JSON.stringify(value)}`,
      );
    }
    // Blank means unset, as everywhere: the default.
    assert.equal(resolveDaemonSettings({ ...base, [name]: " " }).turnMaxEvents, 5000);
    assert.equal(resolveDaemonSettings({ ...base, [name]: " " }).turnShownEvents, 50);
  }
});

test("the daemon claims 2,000 events at a time unless GATEWAY_BATCH_SIZE is set (then that, checked as a bus setting)", () => {
  assert.equal(DAEMON_BATCH_SIZE, 2000);
  assert.equal(daemonBatchSize({}), 2000);
  assert.equal(daemonBatchSize({ GATEWAY_BATCH_SIZE: "" }), 2000, "empty: unset");
  assert.equal(daemonBatchSize({ GATEWAY_BATCH_SIZE: "  " }), 2000, "blank: unset");
  assert.equal(daemonBatchSize({ GATEWAY_BATCH_SIZE: "20" }), undefined, "set: the bus setting applies");
  assert.equal(resolveBusOptions({ batchSize: daemonBatchSize({}) }, {}).batchSize, 2000);
  assert.equal(resolveBusOptions({ batchSize: daemonBatchSize({ GATEWAY_BATCH_SIZE: "20" }) }, { GATEWAY_BATCH_SIZE: "20" }).batchSize, 20);
  assert.throws(
    () => resolveBusOptions({ batchSize: daemonBatchSize({ GATEWAY_BATCH_SIZE: "0" }) }, { GATEWAY_BATCH_SIZE: "0" }),
    /GATEWAY_BATCH_SIZE="0" is less than 1/,
  );
});

test("pi-gateway daemon with a malformed cap: one line, exit 2, nothing started", async () => {
  const result = await runCli(["daemon", "--port", "0"], { env: { ...base, GATEWAY_TURN_MAX_EVENTS: "many", REDIS_URL: "redis://127.0.0.1:1" } });
  assert.equal(result.code, 2, result.stderr);
  assert.equal(result.stderr.trim(), 'pi-gateway: GATEWAY_TURN_MAX_EVENTS="many" is not a whole number (expected a whole number, at least 1)');
});
