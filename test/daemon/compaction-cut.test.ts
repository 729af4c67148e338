/**
 * pi's compaction counts only `message` entries when it chooses what to keep; the daemon's
 * correction counts gateway messages (custom_message entries) too, with pi's own findCutPoint.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import * as sdk from "@mariozechner/pi-coding-agent";
import { correctCompactionCut } from "../../src/daemon/compaction-cut.js";

type Event = Parameters<typeof correctCompactionCut>[1];

function session(turns: number) {
  const entries: Array<Record<string, unknown>> = [];
  const at = (i: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString();
  for (let i = 0; i < turns; i++) {
    entries.push({
      type: "custom_message",
      id: `g${i}`,
      parentId: null,
      timestamp: at(2 * i),
      customType: "pi-gateway",
      content: `event ${i} `.repeat(800),
      display: true,
      details: { kind: "events", batch: `b${i}`, ids: [`e${i}`] },
    });
    entries.push({
      type: "message",
      id: `a${i}`,
      parentId: `g${i}`,
      timestamp: at(2 * i + 1),
      message: { role: "assistant", content: [{ type: "text", text: "noted" }], stopReason: "stop", timestamp: 0 },
    });
  }
  return entries;
}

function preparation(entries: Array<Record<string, unknown>>, keepRecentTokens: number): Event["preparation"] {
  // What pi 0.73 prepares for such a session: nothing to summarise, everything kept.
  return {
    firstKeptEntryId: String(entries[0]!.id),
    messagesToSummarize: [],
    turnPrefixMessages: [],
    isSplitTurn: false,
    tokensBefore: 30_000,
    fileOps: { read: new Set(), written: new Set(), edited: new Set() },
    settings: { enabled: false, reserveTokens: 4_000, keepRecentTokens },
  } as unknown as Event["preparation"];
}

test("in a session of gateway messages the cut keeps about keepRecentTokens and summarises the rest", () => {
  const entries = session(10); // each event ~2,000 tokens
  const prep = preparation(entries, 5_000);
  correctCompactionCut(sdk, { preparation: prep, branchEntries: entries as unknown as Event["branchEntries"] });
  const kept = entries.findIndex((e) => e.id === prep.firstKeptEntryId);
  assert.ok(kept >= 12 && kept <= 16, `kept from entry ${kept} (${prep.firstKeptEntryId})`);
  assert.equal(prep.isSplitTurn, false);
  assert.equal(prep.messagesToSummarize.length, kept, "every message before the cut is summarised");
  assert.deepEqual(
    prep.messagesToSummarize.slice(0, 2).map((m) => m.role),
    ["custom", "assistant"],
  );
});

test("a cut pi already chose well (or a session too small to cut) is left as it is", () => {
  const entries = session(2);
  const prep = preparation(entries, 50_000);
  const before = JSON.stringify(prep, (_k, v) => (v instanceof Set ? [...v] : v));
  correctCompactionCut(sdk, { preparation: prep, branchEntries: entries as unknown as Event["branchEntries"] });
  assert.equal(
    JSON.stringify(prep, (_k, v) => (v instanceof Set ? [...v] : v)),
    before,
  );
});
