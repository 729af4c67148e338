/**
 * The pieces behind "every turn visible", without a daemon: how session entries become history
 * items, and how the outbound router shows a turn live to every broadcasting channel.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { buildHistory, originOf, ORIGIN_ENTRY_TYPE, pageHistory } from "../../src/daemon/history.js";
import { OutboundRouter } from "../../src/daemon/router.js";
import type { Channel, InboundMessage, ReplyEvent } from "../../src/daemon/types.js";
import { silentLogger } from "../../src/util/logger.js";

let seq = 0;
const at = "2026-01-01T00:00:00.000Z";
const origin = (data: unknown) => ({ type: "custom", id: `o${++seq}`, timestamp: at, customType: ORIGIN_ENTRY_TYPE, data });
const user = (text: string) => ({
  type: "message",
  id: `u${++seq}`,
  timestamp: at,
  message: { role: "user", content: [{ type: "text", text }], timestamp: 1 },
});
const assistant = (content: unknown[], extra: Record<string, unknown> = {}) => ({
  type: "message",
  id: `a${++seq}`,
  timestamp: at,
  message: { role: "assistant", content, stopReason: "stop", timestamp: 2, ...extra },
});
const toolResult = (toolCallId: string, isError: boolean) => ({
  type: "message",
  id: `t${++seq}`,
  timestamp: at,
  message: { role: "toolResult", toolCallId, isError, content: [], timestamp: 3 },
});
const text = (t: string) => ({ type: "text", text: t });

describe("history items from the session's entries", () => {
  test("each prompt carries the origin recorded before it; a prompt without one has origin null", () => {
    const items = buildHistory([
      origin({ kind: "prompt", channel: "telegram", requestId: "telegram:1", from: "Ann" }),
      user("hello"),
      assistant([text("hi Ann")]),
      user("typed into pi itself"),
      assistant([text("ok")]),
    ]);
    assert.deepEqual(
      items.map((i) => (i.kind === "prompt" ? [i.kind, i.origin?.channel ?? null, i.text] : [i.kind, i.kind === "reply" ? i.text : ""])),
      [
        ["prompt", "telegram", "hello"],
        ["reply", "hi Ann"],
        ["prompt", null, "typed into pi itself"],
        ["reply", "ok"],
      ],
    );
  });

  test("tool calls: name, arguments on one short line, ok / error / pending", () => {
    const long = "x".repeat(500);
    const items = buildHistory([
      user("work"),
      assistant([
        { type: "toolCall", id: "c1", name: "bash", arguments: { command: "ls\n-la" } },
        { type: "toolCall", id: "c2", name: "read", arguments: { path: long } },
        { type: "toolCall", id: "c3", name: "edit", arguments: {} },
      ]),
      toolResult("c1", false),
      toolResult("c2", true),
      assistant([text("done")]),
    ]);
    const tools = items.filter((i) => i.kind === "tool");
    assert.deepEqual(
      tools.map((t) => [t.name, t.status]),
      [
        ["bash", "ok"],
        ["read", "error"],
        ["edit", "pending"],
      ],
    );
    assert.equal(tools[0]!.args, "command=ls -la");
    assert.ok(tools[1]!.args.length <= 160 && tools[1]!.args.endsWith("…"), "long arguments capped");
    assert.equal(tools[2]!.args, "");
  });

  test("a failed or aborted reply is shown with its error", () => {
    const items = buildHistory([
      user("q"),
      assistant([], { stopReason: "error", errorMessage: "503 overloaded" }),
      user("q2"),
      assistant([text("half")], { stopReason: "aborted" }),
    ]);
    const replies = items.filter((i) => i.kind === "reply");
    assert.deepEqual(
      replies.map((r) => [r.text, r.error]),
      [
        ["", "503 overloaded"],
        ["half", "aborted"],
      ],
    );
  });

  test("HEARTBEAT_OK: a heartbeat turn answered so is left out whole; a human prompt keeps its prompt, not the reply; real news stays", () => {
    const items = buildHistory([
      origin({ kind: "heartbeat", channel: "heartbeat", requestId: "heartbeat:1" }),
      user("Heartbeat: ... reply exactly HEARTBEAT_OK"),
      assistant([{ type: "toolCall", id: "h1", name: "read", arguments: { path: "HEARTBEAT.md" } }]),
      toolResult("h1", false),
      assistant([text("**HEARTBEAT_OK**")]),
      origin({ kind: "prompt", channel: "websocket", requestId: "ws:1" }),
      user("say the magic word"),
      assistant([text("HEARTBEAT_OK")]),
      origin({ kind: "heartbeat", channel: "heartbeat", requestId: "heartbeat:2" }),
      user("Heartbeat: ... reply exactly HEARTBEAT_OK"),
      assistant([text("The disk is 95% full.")]),
    ]);
    assert.deepEqual(
      items.map((i) => (i.kind === "prompt" ? `${i.origin?.kind}: ${i.text.slice(0, 18)}` : i.kind === "reply" ? `reply: ${i.text}` : i.kind)),
      ["prompt: say the magic word", "heartbeat: Heartbeat: ... rep", "reply: The disk is 95% full."],
    );
  });

  test("batches the pi-gateway extension injected show as event turns (alarm for the watchdog's)", () => {
    const items = buildHistory([
      {
        type: "custom_message",
        id: "m1",
        timestamp: at,
        customType: "pi-gateway",
        content: "## 🔔 1 gateway event",
        details: { kind: "events", batch: "b-1", ids: ["e1"] },
      },
      assistant([text("noted")]),
      {
        type: "custom_message",
        id: "m2",
        timestamp: at,
        customType: "pi-gateway",
        content: "## ⚠️ MISSED HEARTBEAT",
        details: { kind: "alarm", batch: "b-2", ids: [] },
      },
      { type: "custom_message", id: "m3", timestamp: at, customType: "someone-else", content: "not ours" },
    ]);
    const prompts = items.filter((i) => i.kind === "prompt");
    assert.deepEqual(
      prompts.map((p) => [p.origin?.kind, p.origin?.channel, p.origin?.requestId]),
      [
        ["event", "extension", "b-1"],
        ["alarm", "extension", "b-2"],
      ],
    );
  });

  test("the daemon's gateway messages: the origin recorded before them, a badge per event; hostile details dropped, never the item", () => {
    const origin = { kind: "event", channel: "redis", requestId: "events:e1", types: ["build.failed"], sources: ["ci"] };
    const event = { id: "e1", type: "build.failed", source: "ci", ts: 5, originSession: "sat-1", preview: '{"step":"lint"}' };
    const items = buildHistory([
      { type: "custom", id: "o1", timestamp: at, customType: "pi-gateway.origin", data: origin },
      {
        type: "custom_message",
        id: "m1",
        timestamp: at,
        customType: "pi-gateway",
        content: "## 🔔 1 gateway event",
        details: { kind: "events", batch: "b-1", ids: ["e1"], events: [event, 42, { id: "x" }], requests: ["events:e1"] },
      },
      assistant([text("on it")]),
      { type: "custom_message", id: "m2", timestamp: at, customType: "pi-gateway", content: "beat", details: { kind: "heartbeat", batch: 7, ids: "no" } },
    ]);
    const prompts = items.filter((i) => i.kind === "prompt");
    assert.deepEqual(prompts[0], { id: "m1", kind: "prompt", at: Date.parse(at), origin, text: "## 🔔 1 gateway event", events: [event] });
    assert.equal(prompts[1]?.kind === "prompt" && prompts[1].events, undefined, "malformed details: shown, without badges");
    assert.equal(prompts[1]?.origin?.kind, "event");
  });

  test("paging: the `limit` items before `before`, `more` when older ones exist; an unknown `before` is undefined", () => {
    const items = buildHistory([user("1"), assistant([text("a")]), user("2"), assistant([text("b")])]);
    assert.deepEqual(
      pageHistory(items, 3)?.items.map((i) => i.id),
      items.slice(1).map((i) => i.id),
    );
    assert.equal(pageHistory(items, 3)?.more, true);
    assert.deepEqual(pageHistory(items, 10, items[2]!.id), { items: items.slice(0, 2), more: false });
    assert.deepEqual(pageHistory(items, 10, items[0]!.id), { items: [], more: false });
    assert.equal(pageHistory(items, 10, "nope"), undefined);
    assert.deepEqual(pageHistory([], 10), { items: [], more: false });
  });

  test("origins: human prompts, events, webhooks, heartbeats and alarms", () => {
    const base = { text: "x", priority: "event" as const };
    assert.deepEqual(originOf({ ...base, id: "events:1", channel: "redis", meta: { types: "a,b", sources: "ci,ci" } }), {
      kind: "event",
      channel: "redis",
      requestId: "events:1",
      types: ["a", "b"],
      sources: ["ci", "ci"],
    });
    assert.equal(originOf({ ...base, id: "events:2", channel: "redis", meta: { types: "webhook.github", sources: "webhook:github" } }).kind, "webhook");
    assert.equal(originOf({ ...base, id: "event:3", channel: "http", meta: { type: "t", source: "s" } }).kind, "event");
    assert.equal(originOf({ ...base, id: "heartbeat:1", channel: "heartbeat", priority: "heartbeat" }).kind, "heartbeat");
    assert.equal(originOf({ ...base, id: "alarm:1", channel: "watchdog" }).kind, "alarm");
    assert.deepEqual(originOf({ ...base, id: "telegram:1", channel: "telegram", priority: "human", meta: { from: "Ann" } }), {
      kind: "prompt",
      channel: "telegram",
      requestId: "telegram:1",
      from: "Ann",
    });
  });
});

/** A channel recording what it got through deliver() and broadcast(). */
function recorder(name: string, broadcasts = true): Channel & { delivered: Array<[string, ReplyEvent]>; broadcast_: Array<[ReplyEvent, string | undefined]> } {
  const channel = {
    name,
    delivered: [] as Array<[string, ReplyEvent]>,
    broadcast_: [] as Array<[ReplyEvent, string | undefined]>,
    start: async () => undefined,
    stop: async () => undefined,
    deliver: async (to: string, event: ReplyEvent) => void channel.delivered.push([to, event]),
    ...(broadcasts ? { broadcast: async (event: ReplyEvent, exclude?: string) => void channel.broadcast_.push([event, exclude]) } : {}),
  };
  return channel;
}

describe("live turns through the outbound router", () => {
  const turn = (route: ReturnType<OutboundRouter["open"]>, requestId: string, reply: string) => {
    route.send({ type: "start", requestId });
    route.send({ type: "delta", requestId, text: reply });
    route.send({ type: "end", requestId, text: reply });
    return route.flush();
  };

  test("every turn goes to every broadcasting channel, the asker left out (it gets its own copy)", async () => {
    const ws = recorder("websocket");
    const telegram = recorder("telegram", false);
    const router = new OutboundRouter({ channel: "telegram", to: "1" }, silentLogger);
    router.register(ws);
    router.register(telegram);
    const asked: InboundMessage = { id: "ws:1", channel: "websocket", text: "q", priority: "human", replyTo: { channel: "websocket", to: "c-1" } };
    await turn(router.open(asked), "ws:1", "answer");
    assert.deepEqual(
      ws.delivered.map(([to, e]) => [to, e.type]),
      [
        ["c-1", "start"],
        ["c-1", "delta"],
        ["c-1", "end"],
      ],
    );
    assert.deepEqual(
      ws.broadcast_.map(([e, exclude]) => [e.type, exclude]),
      [
        ["start", "c-1"],
        ["delta", "c-1"],
        ["end", "c-1"],
      ],
    );

    ws.broadcast_.length = 0;
    await turn(router.open({ id: "events:1", channel: "redis", text: "e", priority: "event" }), "events:1", "handled");
    assert.deepEqual(
      ws.broadcast_.map(([e, exclude]) => [e.type, exclude]),
      [
        ["start", undefined],
        ["delta", undefined],
        ["end", undefined],
      ],
    );
    assert.deepEqual(
      telegram.delivered.map(([to, e]) => [to, e.type]),
      [["1", "end"]],
      "the owner still gets the outcome",
    );
  });

  test("a heartbeat turn is held until its end: HEARTBEAT_OK shows nowhere, real news shows whole", async () => {
    const ws = recorder("websocket");
    const router = new OutboundRouter(undefined, silentLogger);
    router.register(ws);
    const beat: InboundMessage = { id: "heartbeat:1", channel: "heartbeat", text: "hb", priority: "heartbeat" };
    await turn(router.open(beat), "heartbeat:1", "HEARTBEAT_OK");
    assert.equal(ws.broadcast_.length, 0, "nothing of it shown");
    await turn(router.open({ ...beat, id: "heartbeat:2" }), "heartbeat:2", "disk full");
    assert.deepEqual(
      ws.broadcast_.map(([e]) => e.type),
      ["start", "delta", "end"],
    );
  });
});
