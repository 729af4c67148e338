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
    const streamed = "req-fallback-edit";
    await h.channel.deliver(TO, { type: "start", requestId: streamed });
    await h.channel.deliver(TO, { type: "delta", requestId: streamed, text: "Streaming *then*" });
    await waitFor(() => h.fake.messagesIn(CHAT).length === 3, "the preview");
    await h.channel.deliver(TO, { type: "delta", requestId: streamed, text: " refused" });
    await h.channel.deliver(TO, { type: "end", requestId: streamed, text: "Streaming *then* refused" });
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

test("an instant answer's one sendMessage failing four times in a row (429, 500, 429, 500) is retried until it lands: the reply arrives once, never twice", async () => {
  // The default 1 s preview interval: the answer is done before a preview is due, so its only
  // message is the final sendMessage, and no preview's own tries can soak up the failures.
  const h = await startHarness({ previewIntervalMs: undefined });
  try {
    h.fake.addChat(CHAT);
    const faults = [
      { error_code: 429, description: "Too Many Requests: retry after 1", retry_after: 1 },
      { error_code: 500 },
      { error_code: 429, description: "Too Many Requests: retry after 1", retry_after: 1 },
      { error_code: 500 },
    ];
    for (const fault of faults) h.fake.failNext("sendMessage", fault);
    // Resolves once the final text is sent (or given up).
    await answer(h.channel, TO, "req-faults", "the answer, *once*", { pieces: 2 });
    assert.deepEqual(
      h.fake.calls("sendMessage", CHAT).map((call) => call.outcome),
      [429, 500, 429, 500, true],
      "four refused tries, then the one that landed",
    );
    await sleep(500); // a second copy would come now
    assert.deepEqual(h.fake.messagesIn(CHAT), ["the answer, once"]);
    assert.equal(h.fake.calls("editMessageText", CHAT).length, 0, "no preview to edit: the reply is that one message");
    assert.ok(!h.logs.some((entry) => /send failed/.test(entry.msg)), "nothing logged as not sent");
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
    const messages = h.fake.calls("sendMessage", CHAT).length + h.fake.calls("editMessageText", CHAT).length;
    assert.ok(messages <= 8, `${messages} messages and edits for a 4 s reply (one queued preview at a time)`);
    // Previews and the final text go through two APIs (different retry budgets) but one pacing:
    // the final edit waits its turn behind the last preview like any other message to the chat.
    const paced = h.fake.callsTo(CHAT).filter((call) => call.method !== "sendChatAction");
    for (let i = 1; i < paced.length; i++) {
      const gap = paced[i]!.time - paced[i - 1]!.time;
      assert.ok(gap >= 900, `${paced[i - 1]!.method} then ${paced[i]!.method} only ${gap} ms apart`);
    }
    // Typing is not paced with the messages: renewed once per typingIntervalMs (100 ms here), never more.
    const typing = h.fake.calls("sendChatAction", CHAT).length;
    assert.ok(typing <= took / 100 + 1, `${typing} typing actions in ${took} ms`);
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

test("an instant answer goes out as one final sendMessage within 300 ms of the update, typing first; the next reply's typing is not held behind it (default throttle and intervals)", async () => {
  // Telegram's pacing and the default 1 s preview interval, as in production.
  const h = await startHarness({ throttle: undefined, previewIntervalMs: undefined, typingIntervalMs: undefined });
  try {
    h.fake.addChat(CHAT);
    // The agent answers at once: start, two deltas and the end within a millisecond or two.
    h.onSubmit = (message) => void answer(h.channel, TO, message.id, `pong ${message.text}`, { pieces: 2 });
    const isFinal = (text: string) => (call: { params: Record<string, unknown> }) => call.params.parse_mode === "HTML" && call.params.text === text;

    const injected = Date.now();
    h.fake.injectMessage({ chatId: CHAT, userId: OWNER.userId, text: "one" });
    const final = await waitFor(() => h.fake.callsTo(CHAT).find(isFinal("pong one")), "the final reply", 5_000, 2);
    assert.ok(final.time - injected < 300, `final reply (${final.method}) ${final.time - injected} ms after the update`);
    const typing = h.fake.calls("sendChatAction", CHAT);
    assert.ok(typing.length >= 1 && typing[0]!.time <= final.time, "the typing indicator went out first");
    // No preview, no edit: the turn ended before a preview was due.
    assert.deepEqual(
      h.fake
        .callsTo(CHAT)
        .filter((call) => call.method !== "sendChatAction")
        .map((call) => call.method),
      ["sendMessage"],
    );

    // A second message right away: its typing shows at once; its reply still keeps a second from the last one.
    const again = Date.now();
    h.fake.injectMessage({ chatId: CHAT, userId: OWNER.userId, text: "two" });
    const second = await waitFor(() => h.fake.callsTo(CHAT).find(isFinal("pong two")), "the second reply", 5_000, 2);
    const secondTyping = h.fake.calls("sendChatAction", CHAT).find((call) => call.time >= again);
    assert.ok(secondTyping && secondTyping.time - again < 300, `second typing ${secondTyping ? secondTyping.time - again : "never"} ms after its update`);
    assert.ok(second.time - final.time >= 900, `messages to the chat still paced: ${second.time - final.time} ms apart`);
    assert.deepEqual(h.fake.messagesIn(CHAT), ["pong one", "pong two"]);
  } finally {
    await h.stop();
  }
});

test("a long streamed answer: the first preview one interval after the first text, the next ones an interval apart, then the final edit", async () => {
  const previewIntervalMs = 400;
  // Times are when the calls reach the fake: an HTTP round trip on a loaded machine adds jitter.
  const slack = 100;
  const h = await startHarness({ previewIntervalMs });
  try {
    h.fake.addChat(CHAT);
    const text = words(60, 5);
    const started = Date.now();
    // Deltas every 50 ms for about 2 s.
    await answer(h.channel, TO, "req-long-stream", text, { pieces: 40, gapMs: 50 });
    const previews = h.fake.callsTo(CHAT).filter((call) => call.method !== "sendChatAction" && call.params.parse_mode === undefined);
    assert.equal(previews[0]?.method, "sendMessage");
    assert.ok(
      previews.slice(1).every((call) => call.method === "editMessageText"),
      "then the preview is edited",
    );
    assert.ok(previews.length >= 3, `${previews.length} previews for 2 s of text`);
    assert.ok(previews[0]!.time - started >= previewIntervalMs - slack, `first preview ${previews[0]!.time - started} ms after the first text`);
    for (let i = 1; i < previews.length; i++) {
      const gap = previews[i]!.time - previews[i - 1]!.time;
      assert.ok(gap >= previewIntervalMs - slack, `previews ${i - 1} and ${i} ${gap} ms apart`);
    }
    const last = h.fake.callsTo(CHAT).at(-1);
    assert.equal(last?.method, "editMessageText");
    assert.equal(last?.params.parse_mode, "HTML");
    assert.deepEqual(h.fake.messagesIn(CHAT), [text]);
  } finally {
    await h.stop();
  }
});
