/**
 * The daemon's compaction rule (src/daemon/context-budget.ts): settings derived from the context
 * window, GATEWAY_CONTEXT_WINDOW / GATEWAY_COMPACT_AT at their edges, and the conditions that make a
 * compaction loop impossible.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError } from "../../src/config/errors.js";
import { contextBudget, contextWindowOf, FALLBACK_CONTEXT_WINDOW, resolveContextSettings, shouldCompactBefore } from "../../src/daemon/context-budget.js";
import { resolveDaemonSettings } from "../../src/daemon/config.js";
import { runCli } from "../helpers/cli.js";

test("unset, empty or blank: the model's window and compaction at 0.7", () => {
  for (const env of [{}, { GATEWAY_CONTEXT_WINDOW: "", GATEWAY_COMPACT_AT: "" }, { GATEWAY_CONTEXT_WINDOW: "  ", GATEWAY_COMPACT_AT: " " }]) {
    assert.deepEqual(resolveContextSettings(env), { contextWindow: undefined, compactAt: 0.7, sessionFileMax: 8 * 1024 * 1024 }, JSON.stringify(env));
  }
});

test("valid values are taken as given", () => {
  assert.deepEqual(resolveContextSettings({ GATEWAY_CONTEXT_WINDOW: "32768", GATEWAY_COMPACT_AT: "0.5" }), {
    contextWindow: 32768,
    compactAt: 0.5,
    sessionFileMax: 8 * 1024 * 1024,
  });
  assert.equal(resolveContextSettings({ GATEWAY_COMPACT_AT: ".95" }).compactAt, 0.95);
  assert.equal(resolveContextSettings({ GATEWAY_COMPACT_AT: "0.3" }).compactAt, 0.3);
  assert.equal(resolveContextSettings({ GATEWAY_CONTEXT_WINDOW: "4096" }).contextWindow, 4096);
});

test("malformed or out of range: a ConfigError naming the variable and the value", () => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ GATEWAY_CONTEXT_WINDOW: "32k" }, /GATEWAY_CONTEXT_WINDOW="32k" is not a whole number \(expected a whole number, at least 4096\)/],
    [{ GATEWAY_CONTEXT_WINDOW: "-1" }, /GATEWAY_CONTEXT_WINDOW="-1" is not a whole number/],
    [{ GATEWAY_CONTEXT_WINDOW: "1.5" }, /GATEWAY_CONTEXT_WINDOW="1.5" is not a whole number/],
    [{ GATEWAY_CONTEXT_WINDOW: "0" }, /GATEWAY_CONTEXT_WINDOW="0" is less than 4096/],
    [{ GATEWAY_CONTEXT_WINDOW: "4095" }, /is less than 4096/],
    [{ GATEWAY_COMPACT_AT: "70%" }, /GATEWAY_COMPACT_AT="70%" is not a number \(expected a number from 0\.3 to 0\.95, such as 0\.7\)/],
    [{ GATEWAY_COMPACT_AT: "abc" }, /is not a number/],
    [{ GATEWAY_COMPACT_AT: "-0.5" }, /is not a number/],
    [{ GATEWAY_COMPACT_AT: "0.29" }, /GATEWAY_COMPACT_AT="0.29" is less than 0.3/],
    [{ GATEWAY_COMPACT_AT: "0" }, /is less than 0.3/],
    [{ GATEWAY_COMPACT_AT: "1" }, /GATEWAY_COMPACT_AT="1" is more than 0.95/],
  ];
  for (const [env, message] of cases) {
    assert.throws(
      () => resolveContextSettings(env),
      (error: Error) => error instanceof ConfigError && message.test(error.message),
      JSON.stringify(env),
    );
  }
});

test("the daemon's settings carry them, and refuse a bad one at start", () => {
  const env = { GATEWAY_TOKEN: "t".repeat(32), GATEWAY_CONTEXT_WINDOW: "32768" };
  assert.deepEqual(resolveDaemonSettings(env).context, { contextWindow: 32768, compactAt: 0.7, sessionFileMax: 8 * 1024 * 1024 });
  assert.throws(() => resolveDaemonSettings({ ...env, GATEWAY_COMPACT_AT: "lots" }), /GATEWAY_COMPACT_AT/);
});

test("the window: the override, else the model's, else pi's fallback for an unknown model", () => {
  assert.equal(contextWindowOf({ contextWindow: 32768, compactAt: 0.7 }, 200_000), 32768);
  assert.equal(contextWindowOf({ compactAt: 0.7 }, 200_000), 200_000);
  assert.equal(contextWindowOf({ compactAt: 0.7 }, 0), FALLBACK_CONTEXT_WINDOW);
  assert.equal(contextWindowOf({ compactAt: 0.7 }, undefined), FALLBACK_CONTEXT_WINDOW);
});

test("derived settings: a compacted conversation sits well under the threshold, for small and large windows", () => {
  assert.deepEqual(contextBudget(32768, 0.7), {
    window: 32768,
    threshold: 22937,
    humanThreshold: 27852,
    reserveTokens: 5734,
    keepRecentTokens: 6881,
    minGrowthTokens: 4587,
  });
  // Large windows get pi's own defaults for what to keep and the summary's budget.
  assert.deepEqual(contextBudget(200_000, 0.7), {
    window: 200_000,
    threshold: 140_000,
    humanThreshold: 170_000,
    reserveTokens: 16384,
    keepRecentTokens: 20000,
    minGrowthTokens: 28000,
  });
  for (const window of [4096, 8192, 32768, 128_000, 1_000_000]) {
    for (const compactAt of [0.3, 0.7, 0.95]) {
      const b = contextBudget(window, compactAt);
      // Kept messages + the longest summary pi may write: at most 0.5 of the threshold.
      assert.ok(b.keepRecentTokens + 0.8 * b.reserveTokens <= 0.5 * b.threshold, `${window} at ${compactAt}`);
      assert.ok(b.threshold < window);
    }
  }
});

test("never a loop: under the threshold, a tiny conversation, or too little growth since the last compaction means no compaction", () => {
  const b = contextBudget(32768, 0.7);
  const big = 20_000;
  assert.equal(shouldCompactBefore(b, b.threshold, big, undefined), false, "at the threshold: not yet");
  assert.equal(shouldCompactBefore(b, b.threshold + 1, big, undefined), true, "past it, with plenty to summarise");
  assert.equal(shouldCompactBefore(b, b.threshold + 1, big, undefined, true), false, "a person's prompt: left to the next event turn");
  assert.equal(shouldCompactBefore(b, b.humanThreshold, big, undefined, true), false, "a person's prompt at its threshold: not yet");
  assert.equal(
    shouldCompactBefore(b, b.humanThreshold + 1, big, undefined, true),
    true,
    "a person's prompt past (T + W) / 2: compacted, it would not fit otherwise",
  );
  assert.ok(b.humanThreshold > b.threshold && b.humanThreshold < b.window);
  // A huge system prompt or a single huge prompt: the conversation itself is tiny, nothing to summarise.
  assert.equal(shouldCompactBefore(b, 30_000, 0, undefined), false, "empty conversation");
  assert.equal(shouldCompactBefore(b, 30_000, b.keepRecentTokens + b.minGrowthTokens - 1, undefined), false, "less than minGrowth beyond what is kept");
  assert.equal(shouldCompactBefore(b, 30_000, b.keepRecentTokens + b.minGrowthTokens, undefined), true);
  // Just compacted down to 25,000 (still over): the next compaction waits until 25,000 + minGrowth.
  assert.equal(shouldCompactBefore(b, 25_000 + b.minGrowthTokens - 1, big, 25_000), false, "no second compaction without growth");
  assert.equal(shouldCompactBefore(b, 25_000 + b.minGrowthTokens, big, 25_000), true);
});

test("pi-gateway daemon refuses a bad GATEWAY_COMPACT_AT, GATEWAY_CONTEXT_WINDOW or GATEWAY_DEDUP_MAX before it starts: one line, exit 2", async () => {
  const base = { GATEWAY_TOKEN: "t".repeat(32), REDIS_URL: "redis://127.0.0.1:1" };
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ GATEWAY_COMPACT_AT: "lots" }, /^pi-gateway: GATEWAY_COMPACT_AT="lots" is not a number \(expected a number from 0\.3 to 0\.95, such as 0\.7\)\n$/],
    [{ GATEWAY_CONTEXT_WINDOW: "32k" }, /^pi-gateway: GATEWAY_CONTEXT_WINDOW="32k" is not a whole number \(expected a whole number, at least 4096\)\n$/],
    [{ GATEWAY_DEDUP_MAX: "0" }, /^pi-gateway: GATEWAY_DEDUP_MAX="0" is less than 1 \(expected a whole number, at least 1\)\n$/],
  ];
  for (const [env, message] of cases) {
    const result = await runCli(["daemon"], { env: { ...base, ...env } });
    assert.equal(result.code, 2, JSON.stringify(env));
    assert.match(result.stderr, message);
  }
});
