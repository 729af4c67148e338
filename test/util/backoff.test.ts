import assert from "node:assert/strict";
import { test } from "node:test";
import { backoffDelay } from "../../src/util/backoff.js";
import { reconnectDelay } from "../../src/bus/connection.js";

test("backoff doubles from the base and stops at the cap", () => {
  const turn = { baseMs: 2_000, capMs: 5 * 60_000 };
  assert.deepEqual(
    [1, 2, 3, 4].map((n) => backoffDelay(n, turn)),
    [2_000, 4_000, 8_000, 16_000],
  );
  assert.equal(backoffDelay(20, turn), 5 * 60_000);
  assert.equal(backoffDelay(3, { baseMs: 1_000, capMs: 3_000 }), 3_000);
});

test("attempts at the edges: zero, negative, fractional, NaN count as the first; huge and Infinity give the cap", () => {
  const b = { baseMs: 100, capMs: 3_000 };
  for (const attempt of [0, -5, 0.4, Number.NaN, Number.NEGATIVE_INFINITY]) assert.equal(backoffDelay(attempt, b), 100, String(attempt));
  assert.equal(backoffDelay(2.9, b), 200);
  for (const attempt of [64, 1_100, 1e9, Number.POSITIVE_INFINITY]) assert.equal(backoffDelay(attempt, b), 3_000, String(attempt));
});

test("a zero base never waits; a cap below the base wins", () => {
  assert.equal(backoffDelay(5, { baseMs: 0, capMs: 1_000 }), 0);
  assert.equal(backoffDelay(1, { baseMs: 500, capMs: 200 }), 200);
});

test("jitter spreads the wait by ± the fraction, never past the cap and never below zero", () => {
  const b = { baseMs: 1_000, capMs: 10_000, jitter: 0.25 };
  assert.equal(
    backoffDelay(1, b, () => 0),
    750,
  );
  assert.equal(
    backoffDelay(1, b, () => 0.5),
    1_000,
  );
  assert.equal(
    backoffDelay(1, b, () => 0.999_999),
    1_250,
  );
  // At the cap the upper half of the spread is cut off.
  assert.equal(
    backoffDelay(30, b, () => 0.999_999),
    10_000,
  );
  assert.equal(
    backoffDelay(30, b, () => 0),
    7_500,
  );
  // A jitter outside 0..1 is clamped: 5 behaves as 1 (0 to 2×), -1 as none.
  assert.equal(
    backoffDelay(1, { ...b, jitter: 5 }, () => 0),
    0,
  );
  assert.equal(
    backoffDelay(1, { ...b, jitter: -1 }, () => 0),
    1_000,
  );
});

test("Redis reconnects: 100 ms doubling to 3 s, each within ±25 %, never more than 3 s", () => {
  for (let attempt = 1; attempt <= 40; attempt++) {
    const nominal = Math.min(3_000, 100 * 2 ** (attempt - 1));
    const delay = reconnectDelay(attempt);
    assert.ok(delay >= nominal * 0.75 - 1 && delay <= Math.min(3_000, nominal * 1.25) + 1, `attempt ${attempt}: ${delay}`);
  }
});
