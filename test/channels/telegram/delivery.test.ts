// Telegram channel, outbound side: long replies in ordered chunks with intact code fences, HTML
// formatting with a plain-text fallback, the typing indicator, and silent heartbeat acks.
import assert from "node:assert/strict";
import { test } from "node:test";
import { sleep, waitFor } from "../../helpers/wait.js";
import { answer, OWNER, startHarness } from "./harness.js";

const CHAT = OWNER.chatId;
const TO = String(CHAT);

function words(count: number, seed: number): string {
  return Array.from({ length: count }, (_, i) => `word${(i * 7 + seed) % 97}`).join(" ");
}

test("a 10,000-character reply arrives as ordered chunks under 4096, with a split code fence closed and reopened", async () => {
  const h = await startHarness();
  try {
    h.fake.addChat(CHAT);
    const code = Array.from({ length: 160 }, (_, i) => `const value${i} = compute(${i}) + offset; // line ${i}`).join("\n");
    const markdown = [
      `Intro paragraph. ${words(150, 1)}`,
      words(120, 2),
      "```ts\n" + code + "\n```",
      `Closing paragraph. ${words(160, 3)}`,
      words(100, 4),
    ].join("\n\n");
    assert.ok(markdown.length >= 10_000 && markdown.length < 12_000, `test input is ${markdown.length} chars`);
    await answer(h.channel, TO, "req-long", markdown);
    const texts = h.fake.messagesIn(CHAT);
    assert.ok(texts.length >= 3, `got ${texts.length} messages`);
    for (const text of texts) assert.ok(text.length < 4096, `chunk of ${text.length} chars`);
    // In order, nothing lost: the displayed texts, joined, are the reply without its fence lines.
    const normalize = (text: string): string => text.replace(/\s+/g, " ").trim();
    assert.equal(normalize(texts.join("\n")), normalize(markdown.replace("```ts\n", "").replace("\n```", "")));
    // The fence spanning a split: closed at the end of one chunk, reopened with its language in the next.
    const sent = h.fake.calls("sendMessage", CHAT).map((call) => String(call.params.text));
    const split = sent.findIndex((html, i) => html.endsWith("</code></pre>") && (sent[i + 1] ?? "").startsWith('<pre><code class="language-ts">'));
    assert.ok(split >= 0, "a chunk ends inside the fence and the next reopens it");
    assert.ok(sent.every((html, i) => h.fake.calls("sendMessage", CHAT)[i]?.params.parse_mode === "HTML" && html.length > 0));
    const pres = h.fake.chatMessages(CHAT).flatMap((message) => message.entities.filter((entity) => entity.type === "pre"));
    assert.ok(pres.length >= 2 && pres.every((entity) => entity.language === "ts"));
  } finally {
    await h.stop();
  }
});

test("Markdown goes out as Telegram HTML; a chunk Telegram can't parse is resent as plain text", async () => {
  const h = await startHarness();
  try {
    h.fake.addChat(CHAT);
    const markdown = "# Result\n**Done**: `a < b && c > d` see [the docs](https://example.com/?a=1&b=2)";
    await answer(h.channel, TO, "req-html", markdown);
    const [call] = h.fake.calls("sendMessage", CHAT);
    assert.equal(call?.params.parse_mode, "HTML");
    assert.equal(
      call?.params.text,
      '<b>Result</b>\n<b>Done</b>: <code>a &lt; b &amp;&amp; c &gt; d</code> see <a href="https://example.com/?a=1&amp;b=2">the docs</a>',
    );
    const [message] = h.fake.chatMessages(CHAT);
    assert.equal(message?.text, "Result\nDone: a < b && c > d see the docs");
    assert.deepEqual(
      message?.entities.map((entity) => [entity.type, entity.url]),
      [
        ["bold", undefined],
        ["bold", undefined],
        ["code", undefined],
        ["text_link", "https://example.com/?a=1&b=2"],
      ],
    );

    // Telegram refuses the markup: the same chunk arrives as its raw Markdown.
    h.fake.failNext("sendMessage", { error_code: 400, description: 'Bad Request: can\'t parse entities: Unsupported start tag "x" at byte offset 3' });
    await answer(h.channel, TO, "req-fallback", "**bold** and _more_");
    assert.deepEqual(h.fake.messagesIn(CHAT).slice(1), ["**bold** and _more_"]);
    const last = h.fake.calls("sendMessage", CHAT).at(-1);
    assert.equal(last?.params.parse_mode, undefined);
    assert.ok(h.logs.some((entry) => entry.level === "warn" && /plain text/.test(entry.msg)));

    // Same when the final edit of a streamed preview is refused.
    h.fake.failNext("editMessageText", {
      error_code: 400,
      description: "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\"",
    });
    await answer(h.channel, TO, "req-fallback-edit", "Streaming *then* refused", { pieces: 3 });
    assert.equal(h.fake.messagesIn(CHAT).at(-1), "Streaming *then* refused");
    assert.equal(h.fake.messagesIn(CHAT).length, 3, "the preview was replaced, not duplicated");
    assert.deepEqual(
      h.fake.calls("editMessageText", CHAT).map((call) => [call.params.parse_mode, call.outcome]),
      [
        ["HTML", 400],
        [undefined, true],
      ],
    );
  } finally {
    await h.stop();
  }
});

test("the typing indicator repeats while the agent works and stops at the end", async () => {
  const h = await startHarness();
  try {
    h.fake.addChat(CHAT);
    await h.channel.deliver(TO, { type: "start", requestId: "req-typing" });
    await h.channel.deliver(TO, { type: "tool", requestId: "req-typing", name: "bash", phase: "start" });
    await sleep(450);
    const typing = h.fake.calls("sendChatAction", CHAT);
    assert.ok(typing.length >= 3, `typing sent ${typing.length} times`);
    assert.ok(typing.every((call) => call.params.action === "typing"));
    await h.channel.deliver(TO, { type: "end", requestId: "req-typing", text: "done" });
    const count = h.fake.calls("sendChatAction", CHAT).length;
    await sleep(300);
    assert.equal(h.fake.calls("sendChatAction", CHAT).length, count, "no typing after the end");
    assert.deepEqual(h.fake.messagesIn(CHAT), ["done"]);

    // An error ends typing too, and says so.
    await h.channel.deliver(TO, { type: "start", requestId: "req-error" });
    await h.channel.deliver(TO, { type: "error", requestId: "req-error", message: "model overloaded" });
    const afterError = h.fake.calls("sendChatAction", CHAT).length;
    await sleep(250);
    assert.equal(h.fake.calls("sendChatAction", CHAT).length, afterError);
    assert.equal(h.fake.messagesIn(CHAT).at(-1), "⚠️ Error: model overloaded");
  } finally {
    await h.stop();
  }
});

test("a HEARTBEAT_OK reply sends nothing (no preview, no message, no delete)", async () => {
  const h = await startHarness();
  try {
    h.fake.addChat(CHAT);
    // As the router delivers a heartbeat (final text only)...
    await h.channel.deliver(TO, { type: "end", requestId: "heartbeat:1", text: "HEARTBEAT_OK" });
    assert.deepEqual(h.fake.callsTo(CHAT), []);
    // ...and as a streamed turn, whose deltas spell the ack.
    await h.channel.deliver(TO, { type: "start", requestId: "heartbeat:2" });
    for (const piece of ["**HEART", "BEAT", "_OK**", " — all quiet."]) {
      await h.channel.deliver(TO, { type: "delta", requestId: "heartbeat:2", text: piece });
      await sleep(120);
    }
    await h.channel.deliver(TO, { type: "end", requestId: "heartbeat:2", text: "**HEARTBEAT_OK** — all quiet." });
    await h.channel.deliver(TO, { type: "end", requestId: "heartbeat:3", text: "" });
    await sleep(150);
    const methods = new Set(h.fake.callsTo(CHAT).map((call) => call.method));
    assert.deepEqual([...methods], ["sendChatAction"]);
    assert.deepEqual(h.fake.chatMessages(CHAT), []);
  } finally {
    await h.stop();
  }
});

test("replies to different chats stream independently (state is per request, not a global chat)", async () => {
  const h = await startHarness();
  try {
    const other = 5151;
    h.fake.addChat(CHAT);
    h.fake.addChat(other);
    await Promise.all([
      answer(h.channel, TO, "req-a", "Answer for the owner, streamed in pieces.", { pieces: 5, gapMs: 40 }),
      answer(h.channel, String(other), "req-b", "Answer for the other chat, also streamed.", { pieces: 5, gapMs: 35 }),
    ]);
    await waitFor(() => h.fake.messagesIn(CHAT).length === 1 && h.fake.messagesIn(other).length === 1, "both replies");
    assert.deepEqual(h.fake.messagesIn(CHAT), ["Answer for the owner, streamed in pieces."]);
    assert.deepEqual(h.fake.messagesIn(other), ["Answer for the other chat, also streamed."]);
  } finally {
    await h.stop();
  }
});

test("deliver never throws: a gone chat is logged; a 429 on sendMessage is retried after retry_after (auto-retry) and the reply arrives exactly once", async () => {
  const h = await startHarness();
  try {
    // Unknown chat: Telegram says "chat not found"; deliver logs and resolves.
    await h.channel.deliver("31415", { type: "end", requestId: "req-gone", text: "hello?" });
    assert.ok(h.logs.some((entry) => entry.level === "warn" && /send failed/.test(entry.msg) && /chat not found/.test(String(entry.obj.err))));
    // A flood wait on send is honoured and the message still arrives, once.
    h.fake.addChat(CHAT);
    h.fake.failNext("sendMessage", { error_code: 429, description: "Too Many Requests: retry after 2", retry_after: 2 });
    await answer(h.channel, TO, "req-429", "sent once");
    const sends = h.fake.calls("sendMessage", CHAT);
    assert.deepEqual(
      sends.map((call) => call.outcome),
      [429, true],
      "one refused call, then one that landed",
    );
    assert.ok(sends[1]!.time - sends[0]!.time >= 1_950, `waited retry_after: ${sends[1]!.time - sends[0]!.time} ms`);
    await sleep(200);
    assert.deepEqual(h.fake.messagesIn(CHAT), ["sent once"]);
  } finally {
    await h.stop();
  }
});

test("a flood wait longer than a minute is not waited out: the reply is logged as not sent, and the next one goes out", async () => {
  const h = await startHarness();
  try {
    h.fake.addChat(CHAT);
    h.fake.failNext("sendMessage", { error_code: 429, description: "Too Many Requests: retry after 600", retry_after: 600 });
    const started = Date.now();
    await h.channel.deliver(TO, { type: "end", requestId: "req-long-flood", text: "lost" });
    assert.ok(Date.now() - started < 2_000, "deliver returned without waiting 10 minutes");
    assert.ok(h.logs.some((entry) => entry.level === "warn" && /send failed/.test(entry.msg) && /429/.test(String(entry.obj.err))));
    await h.channel.deliver(TO, { type: "end", requestId: "req-after", text: "next" });
    assert.deepEqual(h.fake.messagesIn(CHAT), ["next"]);
  } finally {
    await h.stop();
  }
});

test("under the default throttle a streamed reply does not pile up previews: the final text follows the end within seconds", async () => {
  // Deltas every 100 ms for 4 s, previews due every 100 ms, typing every 100 ms: far more than the 1 call/s a chat gets.
  const h = await startHarness({ throttle: undefined });
  try {
    h.fake.addChat(CHAT);
    const text = words(400, 3);
    const started = Date.now();
    // Resolves once the final text is sent (or its sending failed).
    await answer(h.channel, TO, "req-stream", text, { pieces: 40, gapMs: 100, endText: "the final answer" });
    const took = Date.now() - started;
    assert.ok(took < 9_000, `the reply took ${took} ms for 4 s of deltas`);
    assert.equal(h.fake.messagesIn(CHAT).at(-1), "the final answer");
    const calls = h.fake.calls("sendMessage", CHAT).length + h.fake.calls("editMessageText", CHAT).length + h.fake.calls("sendChatAction", CHAT).length;
    assert.ok(calls <= 12, `${calls} calls for a 4 s reply (one queued preview and one typing action at a time)`);
  } finally {
    await h.stop();
  }
});

test("the default throttle spaces calls to one private chat about a second apart (transformer-throttler)", async () => {
  const h = await startHarness({ throttle: undefined });
  try {
    h.fake.addChat(CHAT);
    await Promise.all([
      h.channel.deliver(TO, { type: "end", requestId: "req-a", text: "first" }),
      h.channel.deliver(TO, { type: "end", requestId: "req-b", text: "second" }),
    ]);
    const sends = h.fake.calls("sendMessage", CHAT);
    assert.equal(sends.length, 2);
    assert.ok(sends[1]!.time - sends[0]!.time >= 900, `spaced ${sends[1]!.time - sends[0]!.time} ms`);
    assert.deepEqual([...h.fake.messagesIn(CHAT)].sort(), ["first", "second"]);
  } finally {
    await h.stop();
  }
});
