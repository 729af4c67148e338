/**
 * Issue #13, memory bounded, measured: the built daemon (real pi SDK embedded) against a fake LLM
 * that reports realistic token usage and refuses requests over a 32k window, with a few hundred
 * events pushed in well under a minute. No overflow error reaches anyone, compactions are few and
 * spaced (no loop), every request stays under the window, and every event reaches the LLM.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { GatewayBus } from "../../src/bus/bus.js";
import { createEvent } from "../../src/protocol/event.js";
import { startDaemon, type DaemonProcess } from "../helpers/daemon.js";
import { isSummaryRequest, startFakeLlm, type FakeLlm, type FakeLlmRequest } from "../helpers/fake-llm.js";
import { createPiEnv, type PiEnv } from "../helpers/pi-env.js";
import type { RedisServer } from "../helpers/redis-server.js";
import { useRedisBus } from "../helpers/redis-bus.js";
import { sleep, waitFor } from "../helpers/wait.js";

const WINDOW = 32_768;
const EVENTS = 300;

let redis: RedisServer;
let bus: GatewayBus;
let llm: FakeLlm;
let piEnv: PiEnv;
let daemon: DaemonProcess | undefined;

useRedisBus({ flushEach: false }, (r, b) => {
  redis = r;
  bus = b;
});
before(async () => {
  llm = await startFakeLlm({ usage: "request", contextWindow: WINDOW });
  llm.setResponder((r) => (isSummaryRequest(r) ? "## Goal\nAnswer the gateway's events.\n## Progress\n- events acknowledged" : "Acknowledged."));
  piEnv = createPiEnv({ llmUrl: llm.url });
});
after(async () => {
  await daemon?.kill();
  await llm.close();
  piEnv.cleanup();
});

const eventIds = (r: FakeLlmRequest) => r.lastUserText.match(/mem-\d{4}/g) ?? [];

test(`${EVENTS} events through a ${WINDOW}-token window: no overflow reaches anyone, a bounded number of compactions, every event reaches the LLM`, async () => {
  daemon = await startDaemon(
    {
      ...piEnv.env,
      REDIS_URL: redis.url,
      GATEWAY_TOKEN: "memory-test-token-0123456789abcdef",
      GATEWAY_CONTEXT_WINDOW: String(WINDOW),
      GATEWAY_LOG_LEVEL: "info",
    },
    ["--cwd", piEnv.cwd],
  );
  const started = Date.now();
  // ~10 events/s, each ~1.5 KB of payload (~450 tokens as the LLM sees it): ~140k tokens in total, 4× the window.
  for (let n = 0; n < EVENTS; n++) {
    await bus.push(createEvent("build.finished", "memory-test", { n, log: `step ${n} done; `.repeat(90) }, { id: `mem-${String(n).padStart(4, "0")}` }));
    if (n % 5 === 4) await sleep(500);
  }
  const seen = new Set<string>();
  await waitFor(
    () => {
      for (const r of llm.chatRequests()) if (!isSummaryRequest(r)) for (const id of eventIds(r)) seen.add(id);
      return seen.size === EVENTS;
    },
    `all ${EVENTS} events at the LLM`,
    150_000,
    250,
  );
  const seconds = (Date.now() - started) / 1000;
  const chats = llm.chatRequests();
  const summaries = chats.filter(isSummaryRequest);
  const turns = chats.filter((r) => !isSummaryRequest(r));
  const largest = Math.max(...chats.map((r) => r.promptTokens));
  const compacted = daemon
    .output()
    .split("\n")
    .filter((line) => line.includes('"context compacted"'))
    .map((line) => JSON.parse(line) as { before: number; after: number });
  const deadLetters = await bus.deadLetters(50);
  console.log(
    `FIGURE memory: ${EVENTS} events in ${seconds.toFixed(0)} s, ${turns.length} turns, ${compacted.length} compactions (${summaries.length} summary requests), ` +
      `largest request ${largest} of ${WINDOW} tokens, ${chats.filter((r) => r.overflowed).length} refused as too long, ${deadLetters.length} dead letters; ` +
      `tokens before → after each compaction: ${compacted.map((c) => `${c.before}→${c.after}`).join(", ")}`,
  );
  assert.equal(chats.filter((r) => r.overflowed).length, 0, "the provider never refused a request as too long");
  assert.ok(largest < WINDOW, `largest request ${largest} tokens`);
  assert.deepEqual(deadLetters, [], "nothing dead-lettered");
  // ~140k tokens through a threshold of 22.9k that a compaction brings down to about half: ~15.
  assert.ok(compacted.length >= 3 && compacted.length <= 40, `${compacted.length} compactions`);
  assert.ok(compacted.length <= turns.length / 4, "never a compaction per turn");
  // pi summarises a turn larger than what it keeps in two parts (history and the turn's prefix).
  assert.ok(summaries.length >= compacted.length && summaries.length <= 2 * compacted.length, `${summaries.length} summary requests`);
  for (const c of compacted) assert.ok(c.after < 0.7 * WINDOW * 0.8, `a compaction ends well under the threshold: ${c.before} → ${c.after}`);
});

test("a batch too large for the window even after compaction: dead-lettered with a clear reason, never the provider's error, and the next event is answered", async () => {
  await daemon?.kill();
  await bus.client.flushall();
  const small = await startFakeLlm({ usage: "request", contextWindow: 4_096 });
  small.setResponder(() => "Acknowledged.");
  const env = createPiEnv({ llmUrl: small.url });
  try {
    // Queued before the daemon starts, so they are claimed together: one turn of ~5k tokens of events.
    for (let n = 0; n < 10; n++) await bus.push(createEvent("log.dump", "memory-test", { n, log: "x".repeat(2_000) }, { id: `big-${n}` }));
    // The model's metadata says 128k: only the provider's refusal shows the real window.
    daemon = await startDaemon({ ...env.env, REDIS_URL: redis.url, GATEWAY_TOKEN: "memory-test-token-0123456789abcdef" }, ["--cwd", env.cwd]);
    const [dead] = await waitFor(
      async () => {
        const letters = await bus.deadLetters(50);
        return letters.length ? letters : undefined;
      },
      "the batch dead-lettered",
      30_000,
    );
    assert.match(
      dead!.reason,
      /^turn failed: the request does not fit the model's context window even after compacting the conversation \(about \d+ tokens; planned window \d+\)/,
    );
    assert.doesNotMatch(dead!.reason, /maximum context length|context_length_exceeded/, "the provider's own error is not what anyone reads");
    assert.equal(small.chatRequests().filter((r) => r.overflowed).length, 1, "refused once: no retry without a compaction that could help");

    await bus.push(createEvent("build.finished", "memory-test", { ok: true }, { id: "after-big" }));
    const next = await small.waitForRequest((r) => r.lastUserText.includes("after-big"), 20_000);
    assert.equal(next.overflowed, false, "the refused batch left the conversation: the next turn fits");
    assert.ok(!next.lastUserText.includes("big-0") && !JSON.stringify(next.body.messages).includes("big-0"));
  } finally {
    await daemon?.kill();
    await small.close();
    env.cleanup();
  }
});
