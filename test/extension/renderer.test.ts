/**
 * The TUI renderer of gateway messages, called the way pi's CustomMessageComponent calls it:
 * (message, { expanded }, theme) => Component, rendered at a terminal width.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Theme } from "@mariozechner/pi-coding-agent";
import { visibleWidth } from "@mariozechner/pi-tui";
import { renderGatewayMessage } from "../../src/extension/renderer.js";
import { createEvent } from "../../src/protocol/event.js";
import { detailsFor, parseGatewayDetails, PREVIEW_MAX, PREVIEWS_TOTAL_MAX, summarizeEvents } from "../../src/host/gateway-message.js";

const plain = { fg: (_c: string, t: string) => t, bg: (_c: string, t: string) => t, bold: (t: string) => t } as unknown as Theme;
const at = Date.UTC(2026, 11, 2, 12, 0, 1);

function render(details: unknown, expanded: boolean, width = 100): string[] | undefined {
  const message = { role: "custom" as const, customType: "pi-gateway", content: "fenced prompt", display: true, details, timestamp: at };
  return renderGatewayMessage(message, { expanded }, plain)
    ?.render(width)
    .map((l) => l.trimEnd());
}

const events = [
  createEvent("build.failed", "ci", { job: "lint", log: "x".repeat(5_000) }, { id: "e1", ts: at, originSession: "sat-1" }),
  createEvent("deploy.done", "cd", {}, { id: "e2", ts: at + 60_000 }),
];

test("one compact line per event (time, type, source, origin); payloads collapsed until expanded", () => {
  const details = detailsFor({ kind: "events", shown: events, ids: ["e1", "e2"] }, "b1");
  const collapsed = render(details, false)!.join("\n");
  assert.match(collapsed, /🔔 2 gateway events/);
  assert.match(collapsed, /12:00:01 build\.failed · ci · from sat-1 \[payload \d+ chars\]/);
  assert.match(collapsed, /12:01:01 deploy\.done · cd(?! \[)/, "no payload note for an empty payload");
  assert.ok(!collapsed.includes('"job"'), "the payload is collapsed");
  const expanded = render(details, true)!.join("\n");
  assert.match(expanded, /"job": "lint"/);
  assert.match(expanded, /… \(cut: \d+ characters in all\)/, "a cut preview says so");
});

test("heartbeats and watchdog alarms get their own compact line", () => {
  const beat = createEvent("heartbeat", "cron", {}, { id: "hb", ts: at });
  const heartbeat = render(detailsFor({ kind: "heartbeat", shown: [beat], ids: ["hb"] }, "b2"), false)!.join("\n");
  assert.match(heartbeat, /💓 heartbeat 12:00:01 heartbeat · cron/);
  const alarm = render(detailsFor({ kind: "alarm", elapsedMs: 45 * 60_000 }, "b3"), false)!.join("\n");
  assert.match(alarm, /⚠ gateway watchdog: no heartbeat for 45m/);
});

test("hostile details: control characters flattened, lines within the width, malformed details fall back to pi's default", () => {
  // As a session file could hold them (the bus validates event types; a file is input too).
  const evil = { id: "ev", type: "evil\u001b[2J\ntype", source: "src\u0007", ts: at, originSession: "s\u009b1m", preview: "line\u001b]0;title\u0007\nnext" };
  const details = { kind: "events", batch: "b4", ids: ["ev"], events: [evil] };
  for (const expanded of [false, true]) {
    const lines = render(details, expanded, 40)!;
    for (const line of lines) {
      // eslint-disable-next-line no-control-regex
      assert.ok(!/[\u0000-\u0008\u000b-\u001a\u001c-\u001f]/.test(line), `no control character: ${JSON.stringify(line)}`);
      assert.ok(!line.includes("\u001b[2J") && !line.includes("\u001b]0;"), `no escape sequence from the details: ${JSON.stringify(line)}`);
      assert.ok(visibleWidth(line) <= 40, `within the width: ${JSON.stringify(line)}`);
    }
  }
  for (const bad of [undefined, null, "text", {}, { batch: 1, ids: [] }, { batch: "b", ids: "e1" }]) assert.equal(render(bad, false), undefined);
  // Malformed optional parts are dropped, the ids kept (they are what dedup reads).
  const parsed = parseGatewayDetails({ kind: "nope", batch: "b", ids: ["a", 3], events: [{ id: "a" }, "x", { id: "a", type: "t", source: "s", ts: "no" }] });
  assert.deepEqual(parsed, { kind: "events", batch: "b", ids: ["a"], events: [{ id: "a", type: "t", source: "s", ts: 0 }] });
});

test("payload previews are bounded per event and per message; entries written before per-event details still render", () => {
  const many = Array.from({ length: 20 }, (_, i) => createEvent("big", "load", { blob: "y".repeat(10_000) }, { id: `big-${i}`, ts: at }));
  const summaries = summarizeEvents(many);
  assert.equal(summaries.length, 20);
  assert.ok(summaries.every((s) => (s.preview?.length ?? 0) <= PREVIEW_MAX && s.payloadChars! > 10_000));
  const total = summaries.reduce((sum, s) => sum + (s.preview?.length ?? 0), 0);
  assert.ok(total <= PREVIEWS_TOTAL_MAX, `total ${total}`);
  assert.equal(summaries.at(-1)!.preview, undefined, "past the total cap: no preview, the size still said");
  const listed = render(detailsFor({ kind: "events", shown: many.concat(many.slice(0, 1).map((e) => ({ ...e, id: "x" }))), ids: [] }, "b"), false)!;
  assert.ok(listed.some((l) => /🔔 21 gateway events/.test(l)));
  const beatAlongside = detailsFor({ kind: "events", shown: [events[0]!], ids: ["e1", "hb-left-out"] }, "b5");
  assert.match(render(beatAlongside, false)!.join("\n"), /🔔 1 gateway event\n(?![^]*more)/, "a heartbeat left out of the message is not counted");
  const capped = {
    kind: "events",
    batch: "b6",
    ids: ["a", "b", "c"],
    types: ["t", "t", "t"],
    sources: ["s", "s", "s"],
    events: [{ id: "a", type: "t", source: "s", ts: at }],
  };
  assert.match(render(capped, false)!.join("\n"), /🔔 3 gateway events[^]*… and 2 more/);
  const old = render({ kind: "events", batch: "old", ids: ["o1"], types: ["job.done"], sources: ["worker"] }, false)!.join("\n");
  assert.match(old, /--:--:-- job\.done · worker/);
});

test("a large batch's details stay small: every id, the count, distinct types and sources, summaries of the events shown only", () => {
  const many = Array.from({ length: 300 }, (_, i) => createEvent(i % 2 ? "build.done" : "deploy.done", "ci", { n: i }, { id: `m${i}`, ts: at }));
  const details = detailsFor({ kind: "events", shown: many, ids: many.map((e) => e.id) }, "b2");
  assert.equal(details.ids.length, 300, "the record names every event");
  assert.equal(details.count, 300);
  assert.deepEqual(details.types, ["deploy.done", "build.done"]);
  assert.deepEqual(details.sources, ["ci"]);
  assert.equal(details.events?.length, 50, "one summary per event the prompt shows");
  // Before: one type, one source and one summary (with its preview) per event, up to 200 summaries.
  assert.ok(JSON.stringify(details).length < 8_000, `${JSON.stringify(details).length} bytes`);
  const lines = render(details, false)!.join("\n");
  assert.match(lines, /🔔 300 gateway events/);
  assert.match(lines, /… and 250 more \(summed up in the message the agent reads\)/);

  // Details written before the count (one type and source per event) still read: count, lines, ids.
  const old = { kind: "events", batch: "b0", ids: ["o1", "o2", "o3"], types: ["a.x", "a.x", "b.y"], sources: ["s1", "s1", "s2"] };
  const parsed = parseGatewayDetails(old)!;
  assert.deepEqual(parsed.ids, ["o1", "o2", "o3"]);
  assert.equal(parsed.count, undefined);
  const oldLines = render(old, false)!.join("\n");
  assert.match(oldLines, /🔔 3 gateway events/);
  assert.match(oldLines, /b\.y · s2/);
  // A malformed count is dropped, never the entry: its ids still count.
  assert.deepEqual(parseGatewayDetails({ ...old, count: "lots" })?.ids, ["o1", "o2", "o3"]);
  assert.equal(parseGatewayDetails({ ...old, count: -1 })?.count, undefined);
});
