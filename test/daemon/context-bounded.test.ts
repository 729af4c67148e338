/**
 * The daemon's embedded pi keeps its context inside the model's window (AgentRunner + the real pi
 * SDK, in process, against the fake LLM): it compacts on its own estimate when the provider reports
 * no usage, never loops, turns the provider's context-overflow error into one compaction and one
 * retry, and gives up with a clear reason only when a single request cannot fit. Also what the real
 * pi does by itself with the fake LLM's overflow error.
 */
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { isContextOverflow } from "@mariozechner/pi-ai";
import { AgentRunner } from "../../src/daemon/agent-runner.js";
import { ContextOverflowError } from "../../src/daemon/context-keeper.js";
import { isTransientFailure } from "../../src/daemon/turn-recovery.js";
import type { Logger } from "../../src/util/logger.js";
import { isSummaryRequest, startFakeLlm, type FakeLlm, type FakeLlmOptions } from "../helpers/fake-llm.js";
import { createPiEnv, createSdkSession, type PiEnv } from "../helpers/pi-env.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function fakeLlm(options: FakeLlmOptions): Promise<FakeLlm> {
  const llm = await startFakeLlm(options);
  llm.setResponder((r) => (isSummaryRequest(r) ? "## Goal\nAnswer gateway events.\n## Progress\n- events answered" : "ok"));
  cleanups.push(() => llm.close());
  return llm;
}

function piEnvFor(llm: FakeLlm, settings: Record<string, unknown> = {}): PiEnv {
  const piEnv = createPiEnv({ llmUrl: llm.url, settings });
  cleanups.push(() => piEnv.cleanup());
  return piEnv;
}

/** A logger that keeps what the runner says, for the compaction figures. */
function recordingLogger(): Logger & { lines: Array<{ msg?: string; obj: Record<string, unknown> }> } {
  const lines: Array<{ msg?: string; obj: Record<string, unknown> }> = [];
  const keep = (obj: object, msg?: string) => void lines.push({ obj: obj as Record<string, unknown>, msg });
  return { lines, debug: keep, info: keep, warn: keep, error: keep };
}

async function runner(piEnv: PiEnv, contextWindow: number | undefined, log: Logger): Promise<AgentRunner> {
  const agent = new AgentRunner({ cwd: piEnv.cwd, agentDir: piEnv.agentDir, context: { contextWindow, compactAt: 0.7 }, logger: log });
  await agent.start("fresh");
  cleanups.push(() => agent.stop());
  return agent;
}

/** An event-sized prompt of about `tokens` tokens, naming its number. */
const eventText = (n: number, tokens: number) => `event ${n}: ${"lorem ipsum dolor sit amet ".repeat(Math.ceil((tokens * 4) / 27))}`;

test("a provider that reports no usage: compacted on the daemon's own estimate, a bounded number of times, every request under the window", async () => {
  const window = 8192;
  const llm = await fakeLlm({ usage: "none", contextWindow: window });
  const log = recordingLogger();
  const agent = await runner(piEnvFor(llm), window, log);
  const turns = 40;
  for (let n = 1; n <= turns; n++) {
    const result = await agent.run(`r${n}`, eventText(n, 400), () => undefined);
    assert.equal(result.text, "ok", `turn ${n}`);
  }
  const chats = llm.chatRequests();
  const summaries = chats.filter(isSummaryRequest);
  const turnsSeen = chats.filter((r) => !isSummaryRequest(r)).map((r) => /^event (\d+):/.exec(r.lastUserText)?.[1]);
  const largest = Math.max(...chats.map((r) => r.promptTokens));
  console.log(
    `FIGURE context (no usage, ${window} window): ${turns} turns of ~400 tokens, ${agent.compactions} compactions, ${summaries.length} summary requests, largest request ${largest} tokens, ${chats.filter((r) => r.overflowed).length} overflows`,
  );
  assert.deepEqual(
    turnsSeen,
    Array.from({ length: turns }, (_, i) => String(i + 1)),
    "every prompt reached the LLM once, in order",
  );
  assert.equal(chats.filter((r) => r.overflowed).length, 0, "never over the window");
  assert.ok(largest < window, `largest request ${largest} tokens`);
  // ~16,000 tokens of prompts; each compaction frees at least minGrowth (0.2 × 5734 ≈ 1,146) tokens, in practice ~half the threshold.
  assert.ok(agent.compactions >= 3 && agent.compactions <= 12, `${agent.compactions} compactions`);
  assert.equal(summaries.length, agent.compactions, "one summary request per compaction (none of an empty conversation)");
});

test("realistic usage reports: compactions are spaced by growth, never after every turn", async () => {
  const window = 8192;
  const llm = await fakeLlm({ usage: "request", contextWindow: window });
  const log = recordingLogger();
  const agent = await runner(piEnvFor(llm), window, log);
  for (let n = 1; n <= 40; n++) await agent.run(`r${n}`, eventText(n, 300), () => undefined);
  const compacted = log.lines.filter((l) => l.msg === "context compacted").map((l) => l.obj as { before: number; after: number });
  console.log(
    `FIGURE context (usage reported, ${window} window): 40 turns of ~300 tokens, ${compacted.length} compactions (tokens before → after: ${compacted.map((c) => `${c.before}→${c.after}`).join(", ")})`,
  );
  assert.ok(compacted.length >= 2 && compacted.length <= 10, `${compacted.length} compactions`);
  for (const c of compacted) assert.ok(c.after < c.before / 1.5, `a compaction shrinks the context: ${c.before} → ${c.after}`);
  assert.equal(llm.chatRequests().filter((r) => r.overflowed).length, 0);
});

test("the model's metadata claims a larger window than the provider's: the overflow error is compacted away and the turn retried, the caller never sees it", async () => {
  const llm = await fakeLlm({ usage: "none", contextWindow: 6000 });
  const log = recordingLogger();
  // models.json says 128,000: the daemon plans for that, so only the provider's refusal shows the truth.
  const agent = await runner(piEnvFor(llm), undefined, log);
  for (let n = 1; n <= 16; n++) {
    const result = await agent.run(`r${n}`, eventText(n, 500), () => undefined);
    assert.equal(result.text, "ok", `turn ${n} answered`);
  }
  const overflowed = llm.chatRequests().filter((r) => r.overflowed);
  console.log(`FIGURE overflow recovery: ${overflowed.length} provider refusals, ${agent.compactions} compactions, 16/16 turns answered`);
  // After the first refusal the daemon plans for the window the provider showed: compactions come
  // before the turns from then on, and the provider never refuses again.
  assert.equal(overflowed.length, 1, "refused once, then never again");
  assert.ok(
    log.lines.some((l) => /context window is smaller than its metadata says/.test(l.msg ?? "")),
    "the learned window is logged",
  );
  assert.ok(agent.compactions >= 1 && agent.compactions <= 6, `${agent.compactions} compactions`);
  const recovered = log.lines.filter((l) => l.msg === "the provider found the context too long; compacting and retrying once");
  assert.equal(recovered.length, overflowed.length);
});

test("a single request larger than the window: one clear reason, no provider text, nothing summarised, and it leaves the conversation", async () => {
  const llm = await fakeLlm({ usage: "none", contextWindow: 4096 });
  const agent = await runner(piEnvFor(llm), undefined, recordingLogger());
  await assert.rejects(
    agent.run("huge", eventText(1, 6000), () => undefined),
    (error: Error) =>
      error instanceof ContextOverflowError &&
      /^the request does not fit the model's context window even after compacting the conversation \(about \d+ tokens; planned window \d+\): it was left out of the conversation/.test(
        error.message,
      ) &&
      !/maximum context length/.test(error.message) &&
      // The daemon dead-letters it with this reason at once: retrying the same request cannot help.
      !isTransientFailure(error.message),
  );
  assert.equal(llm.chatRequests().filter(isSummaryRequest).length, 0, "nothing worth summarising: no summary request");
  assert.equal(llm.chatRequests().filter((r) => r.overflowed).length, 1, "not retried without a compaction");
  // The session goes on without it: otherwise every later turn would be refused too.
  assert.equal((await agent.run("next", "a small one", () => undefined)).text, "ok");
  const next = llm.chatRequests().at(-1)!;
  assert.equal(next.overflowed, false);
  assert.ok(!JSON.stringify(next.body.messages).includes("event 1:"), "the refused request is not sent again");
});

test("the real pi recognises the fake LLM's overflow error (isContextOverflow) and by itself compacts and retries", async () => {
  const llm = await fakeLlm({ usage: "request", contextWindow: 4096 });
  // pi's own auto-compaction on, its default reserve: what the daemon switches off.
  const piEnv = piEnvFor(llm, { compaction: { enabled: true, keepRecentTokens: 1000 } });
  const sdk = await createSdkSession(piEnv);
  cleanups.push(() => sdk.dispose());
  for (let n = 1; n <= 8; n++) await sdk.session.prompt(eventText(n, 500));
  const refused = sdk.session.sessionManager
    .getEntries()
    .map((e) => (e.type === "message" ? e.message : undefined))
    .find((m) => m?.role === "assistant" && m.stopReason === "error");
  assert.ok(
    refused?.role === "assistant",
    `pi recorded the refusal; requests: ${llm
      .chatRequests()
      .map((r) => r.promptTokens)
      .join(",")}`,
  );
  assert.match(refused.errorMessage ?? "", /maximum context length is 4096 tokens/);
  assert.equal(isContextOverflow(refused, 4096), true, "pi-ai's overflow patterns match it");
  const overflowCompaction = await sdk.waitForEvent((e) => e.type === "compaction_start" && e.reason === "overflow", 10_000);
  assert.ok(overflowCompaction);
});
