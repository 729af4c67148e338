/** The web app's formatting helpers (src/web/app/format.ts: no DOM, so they run in Node too), at their edges. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { clock, compareStreamIds, formatAge, formatDuration, fullTime, isoTime, newId } from "../../src/web/app/format.js";

describe("web app formatting", () => {
  test("ages: seconds, minutes, hours and minutes, days; nothing negative; a dash for no number", () => {
    assert.equal(formatAge(0), "0s");
    assert.equal(formatAge(-5_000), "0s", "a clock skew in the future reads as now");
    assert.equal(formatAge(59_499), "59s");
    assert.equal(formatAge(59_500), "1 min");
    assert.equal(formatAge(3_599_000), "59 min");
    assert.equal(formatAge(3_600_000), "1h 0m");
    assert.equal(formatAge(47 * 3_600_000 + 59 * 60_000), "47h 59m");
    assert.equal(formatAge(48 * 3_600_000), "2d");
    for (const bad of [NaN, Infinity, -Infinity]) assert.equal(formatAge(bad), "—");
  });

  test("durations: milliseconds, tenths of seconds, then ages; empty for no number", () => {
    assert.equal(formatDuration(0), "0 ms");
    assert.equal(formatDuration(999.4), "999 ms");
    assert.equal(formatDuration(1_000), "1.0 s");
    assert.equal(formatDuration(59_949), "59.9 s");
    assert.equal(formatDuration(60_000), "1 min");
    assert.equal(formatDuration(NaN), "");
  });

  test("times: invalid ones are ?, empty or left out, never 'Invalid Date'", () => {
    assert.match(clock(Date.UTC(2026, 0, 1, 12, 30, 5)), /^\d\d:\d\d:\d\d$/);
    assert.equal(clock(NaN), "?");
    assert.equal(fullTime(NaN), "");
    assert.equal(isoTime("1767270605000"), "2026-01-01T12:30:05.000Z");
    for (const bad of [undefined, "soon", {}, 8.64e15 + 1]) assert.equal(isoTime(bad), undefined, String(bad));
  });

  test("stream ids compare by number, not as text; malformed parts count as 0", () => {
    assert.ok(compareStreamIds("1700000000000-10", "1700000000000-9") > 0);
    assert.ok(compareStreamIds("999-0", "1000-0") < 0);
    assert.equal(compareStreamIds("5", "5-0"), 0);
    assert.equal(compareStreamIds("", "0-0"), 0);
  });

  test("message ids: web- and 24 hex digits, different every time", () => {
    const ids = new Set(Array.from({ length: 100 }, newId));
    assert.equal(ids.size, 100);
    for (const id of ids) assert.match(id, /^web-[0-9a-f]{24}$/);
  });
});
