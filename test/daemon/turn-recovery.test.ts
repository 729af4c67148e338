import assert from "node:assert/strict";
import { test } from "node:test";
import { isTransientFailure, oneLine, promptText } from "../../src/daemon/turn-recovery.js";
import { answeredInSession } from "../../src/daemon/session-record.js";

test("transient failures are retried; the rest are not", () => {
  const transient = [
    "503 fake-llm: HTTP 503",
    "502 Bad Gateway",
    '529 {"type":"error","error":{"type":"overloaded_error"}}',
    "429 Rate limit reached for gpt-x in organization org-1 on tokens per min",
    "Connection error.",
    "fetch failed",
    "connect ECONNREFUSED 127.0.0.1:443",
    "Request timed out.",
    "terminated",
    "Overloaded",
    "408 Request Timeout",
  ];
  const permanent = [
    "400 Invalid value for 'messages'",
    "401 Incorrect API key provided",
    "404 The model `nope` does not exist",
    "No API key found for provider fake",
    "No model selected",
    "400 This model's maximum context length is 128000 tokens",
    "prompt is too long: 210000 tokens > 200000 maximum",
    "400 max_tokens must be at most 5000 (timeout is not the issue)",
    "something nobody has seen before",
  ];
  for (const message of transient) assert.equal(isTransientFailure(message), true, message);
  for (const message of permanent) assert.equal(isTransientFailure(message), false, message);
});

test("the agent is told in one first line when it was shown a request before; otherwise the text is unchanged", () => {
  const message = { id: "x", channel: "websocket", text: "do the thing", priority: "human" as const };
  assert.equal(promptText({ message, attempts: 0 }), "do the thing");
  const replay = promptText({ message: { ...message, text: "deploy v2\n\nthen tell me" }, attempts: 0, interruptedAt: Date.UTC(2025, 0, 2, 3, 4, 5) });
  assert.equal(
    replay,
    [
      "⚠️ The gateway restarted while you were working on the request below (shown to you at 2025-01-02T03:04:05.000Z); that turn was interrupted and its reply never reached the asker.",
      "Check what was already done before doing anything again, then answer it once.",
      "",
      "> deploy v2",
      ">",
      "> then tell me",
    ].join("\n"),
    "one message saying what happened, with the original request quoted",
  );
  const retry = promptText({ message, attempts: 2, lastError: "503\nService   Unavailable" });
  assert.equal(
    retry.split("\n")[0],
    "⚠️ Retry 2 of this request: the previous attempt failed (503 Service Unavailable); check what was already done before acting again.",
  );
  assert.ok(retry.endsWith("\n\ndo the thing"));
  assert.equal(oneLine("a".repeat(600)).length, 500);
});

test("the session tells a finished gateway turn from one cut short, by the request ids in its message's details", () => {
  const gateway = (requests: unknown, id = "g") => ({
    type: "custom_message",
    id,
    customType: "pi-gateway",
    details: { kind: "events", batch: id, ids: ["e1"], requests },
  });
  const reply = (text: string, stopReason = "stop") => ({ type: "message", message: { role: "assistant", content: [{ type: "text", text }], stopReason } });
  const user = { type: "message", message: { role: "user", content: "next question" } };
  const tool = { type: "message", message: { role: "toolResult", content: [] } };
  const ids = ["events:e1", "events:e2"];
  assert.equal(answeredInSession([gateway(ids), reply("", "toolUse"), tool, reply("all done")], ids), "all done");
  assert.equal(answeredInSession([gateway(ids), reply("done"), user, reply("other")], ids), "done", "bounded by the next prompt");
  assert.equal(
    answeredInSession([gateway(ids), reply("first"), gateway(ids, "again")], ids),
    undefined,
    "the newest message for them counts: its turn never ran",
  );
  for (const cut of [[], [reply("", "toolUse")], [reply("", "toolUse"), tool], [reply("partial", "aborted")], [reply("", "error")]]) {
    assert.equal(answeredInSession([gateway(ids), ...cut], ids), undefined, JSON.stringify(cut));
  }
  assert.equal(answeredInSession([gateway(["events:e1"]), reply("done")], ids), undefined, "a turn that answered only some of them");
  assert.equal(answeredInSession([gateway("events:e1"), reply("done")], ["events:e1"]), undefined, "malformed details");
  assert.equal(answeredInSession([gateway(ids), reply("done")], []), undefined);
});
