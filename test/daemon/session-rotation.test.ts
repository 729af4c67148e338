/**
 * The daemon's pi session file stays bounded (issue #13's memory part): after a compaction, a file
 * past GATEWAY_SESSION_FILE_MAX is continued in a new file holding only what the model still sees.
 * Through the real pi SDK (AgentRunner) against the fake LLM: the model's context is the same after
 * the move, the history API reads across the files (each prompt once, in order, paging across the
 * boundary), a restart resumes the new file, and a half-written file is never resumed.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { afterEach, test } from "node:test";
import { AgentRunner } from "../../src/daemon/agent-runner.js";
import { resolveContextSettings } from "../../src/daemon/context-budget.js";
import type { HistoryItem } from "../../src/daemon/history.js";
import { ROTATED_ENTRY_TYPE } from "../../src/daemon/session-rotation.js";
import type { Logger } from "../../src/util/logger.js";
import { isSummaryRequest, startFakeLlm, type FakeLlm } from "../helpers/fake-llm.js";
import { createPiEnv, type PiEnv } from "../helpers/pi-env.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const WINDOW = 8192;
const FILE_MAX = 64 * 1024; // the smallest GATEWAY_SESSION_FILE_MAX
const promptText = (n: number) => `prompt ${n}: ${"lorem ipsum dolor sit amet ".repeat(60)}`;

function recordingLogger(): Logger & { lines: Array<{ msg?: string; obj: Record<string, unknown> }> } {
  const lines: Array<{ msg?: string; obj: Record<string, unknown> }> = [];
  const keep = (obj: object, msg?: string) => void lines.push({ obj: obj as Record<string, unknown>, msg });
  return { lines, debug: keep, info: keep, warn: keep, error: keep };
}

async function setup(): Promise<{ llm: FakeLlm; piEnv: PiEnv }> {
  const llm = await startFakeLlm({ usage: "none", contextWindow: WINDOW });
  cleanups.push(() => llm.close());
  let summaries = 0;
  llm.setResponder((r) => (isSummaryRequest(r) ? `## Goal\nsummary number ${++summaries}` : `answer to ${/^prompt (\d+)/.exec(r.lastUserText)?.[1] ?? "?"}`));
  const piEnv = createPiEnv({ llmUrl: llm.url });
  cleanups.push(() => piEnv.cleanup());
  return { llm, piEnv };
}

async function runner(piEnv: PiEnv, log: Logger, open: "fresh" | "recent"): Promise<AgentRunner> {
  const agent = new AgentRunner({
    cwd: piEnv.cwd,
    agentDir: piEnv.agentDir,
    context: { contextWindow: WINDOW, compactAt: 0.7, sessionFileMax: FILE_MAX },
    logger: log,
  });
  await agent.start(open);
  cleanups.push(() => agent.stop());
  return agent;
}

const prompts = (items: HistoryItem[]) => items.filter((i) => i.kind === "prompt").map((i) => Number(/^prompt (\d+)/.exec(i.text)?.[1]));

test("a session file past GATEWAY_SESSION_FILE_MAX is continued after a compaction: same context, bounded file, history across files, resumed after a restart", async () => {
  const { llm, piEnv } = await setup();
  const log = recordingLogger();
  const agent = await runner(piEnv, log, "fresh");
  const first = agent.sessionFile;
  const turns = 60;
  let continuedAt = 0;
  for (let n = 1; n <= turns; n++) {
    const before = agent.sessionFile;
    assert.equal((await agent.run(`r${n}`, promptText(n), () => undefined)).text, `answer to ${n}`);
    if (agent.sessionFile !== before && !continuedAt) continuedAt = n;
  }
  const moves = log.lines.filter((l) => l.msg === "session file continued in a new file");
  console.log(
    `FIGURE session rotation: ${turns} turns of ~400 tokens, ${agent.compactions} compactions, ${moves.length} new files ` +
      `(${moves.map((m) => `${Math.round(Number(m.obj.bytesBefore) / 1024)}→${Math.round(Number(m.obj.bytesAfter) / 1024)} KiB`).join(", ")})`,
  );
  assert.ok(continuedAt > 0 && moves.length >= 1, "the file was continued");
  assert.notEqual(agent.sessionFile, first);
  for (const m of moves) assert.ok(Number(m.obj.bytesAfter) < Number(m.obj.bytesBefore) / 2, `the new file is small: ${JSON.stringify(m.obj)}`);

  // Every file stays near the bound: a file is continued at the first compaction past it.
  const dir = dirname(agent.sessionFile!);
  const files = readdirSync(dir).filter((f) => f.endsWith(".jsonl"));
  assert.equal(files.length, moves.length + 1, "the old files stay on disk");
  for (const f of files) assert.ok(statSync(join(dir, f)).size < 3 * FILE_MAX, `${f}: ${statSync(join(dir, f)).size} bytes`);
  const lines = readFileSync(agent.sessionFile!, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines[0]!.type, "session");
  assert.ok(String(lines[0]!.parentSession).endsWith(".jsonl"), "the header names the file it continues");
  assert.equal(lines[1]!.customType, ROTATED_ENTRY_TYPE);

  // The model sees the same conversation: the request after a move carries the latest summary and the newest prompts.
  const afterMove = llm
    .chatRequests()
    .filter((r) => !isSummaryRequest(r))
    .at(-1)!;
  const sent = JSON.stringify(afterMove.body.messages);
  assert.match(sent, /summary number \d+/, "the compaction summary is in the context");
  assert.ok(sent.includes(`prompt ${turns - 1}:`) && sent.includes(`answer to ${turns - 1}`), "the previous turn is in the context");
  assert.ok(!sent.includes("prompt 1:"), "what was summarised is not");

  // History across the files: every prompt once, in order, also page by page across the boundaries.
  const all = agent.history(1000);
  assert.deepEqual(
    prompts(all!.items),
    Array.from({ length: turns }, (_, i) => i + 1),
  );
  assert.equal(all!.more, false);
  const paged: number[] = [];
  let before: string | undefined;
  for (let page = agent.history(7); page; page = before ? agent.history(7, before) : undefined) {
    paged.unshift(...prompts(page.items));
    before = page.more ? page.items[0]?.id : undefined;
    if (!page.more) break;
  }
  assert.deepEqual(
    paged,
    Array.from({ length: turns }, (_, i) => i + 1),
    "paging crosses the files",
  );
  assert.equal(agent.history(5, "no-such-id"), undefined, "an unknown id is not found, not an error");

  // A restart resumes the newest file; a half-written continuation left by a crash is not resumed.
  const current = agent.sessionFile!;
  await agent.stop();
  writeFileSync(join(dir, `${basename(current, ".jsonl")}-crashed.jsonl.writing`), '{"type":"session"');
  const again = await runner(piEnv, recordingLogger(), "recent");
  assert.equal(again.sessionFile, current);
  assert.deepEqual(
    prompts(again.history(1000)!.items),
    Array.from({ length: turns }, (_, i) => i + 1),
  );
  assert.equal((await again.run("r-next", promptText(turns + 1), () => undefined)).text, `answer to ${turns + 1}`);
  assert.ok(JSON.stringify(llm.chatRequests().at(-1)!.body.messages).includes(`answer to ${turns}`), "the resumed context goes on where it was");
});

test("GATEWAY_SESSION_FILE_MAX at its edges: unset or empty is 8 MiB, units accepted, too small or malformed refused naming the variable", () => {
  assert.equal(resolveContextSettings({}).sessionFileMax, 8 * 1024 * 1024);
  assert.equal(resolveContextSettings({ GATEWAY_SESSION_FILE_MAX: "" }).sessionFileMax, 8 * 1024 * 1024);
  assert.equal(resolveContextSettings({ GATEWAY_SESSION_FILE_MAX: " 512KiB " }).sessionFileMax, 512 * 1024);
  assert.equal(resolveContextSettings({ GATEWAY_SESSION_FILE_MAX: "2m" }).sessionFileMax, 2 * 1024 * 1024);
  assert.equal(resolveContextSettings({ GATEWAY_SESSION_FILE_MAX: "1048576" }).sessionFileMax, 1024 * 1024);
  for (const bad of ["1k", "-5MiB", "5 parsecs", "1e9", "0x100000", "9".repeat(40), "８MiB"]) {
    assert.throws(
      () => resolveContextSettings({ GATEWAY_SESSION_FILE_MAX: bad }),
      (error: Error) => error.message.startsWith(`GATEWAY_SESSION_FILE_MAX=${JSON.stringify(bad)} `),
      bad,
    );
  }
});
