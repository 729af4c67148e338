// Telegram channel, inbound side: allowlist, submission to the command queue, direct commands,
// and long polling that survives 409 / 500 / 429 without losing or duplicating messages.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createTelegramChannel } from "../../../src/channels/telegram/index.js";
import { FAKE_BOT_USER, startFakeTelegram } from "../../helpers/fake-telegram.js";
import { sleep, waitFor } from "../../helpers/wait.js";
import { answer, OWNER, recordingLogger, startHarness, waitConfirmed, type LogEntry } from "./harness.js";

test("an allowed user's message is submitted with its update id and reply address; the streamed reply lands in the same chat", async () => {
  const h = await startHarness();
  try {
    h.onSubmit = (message) => {
      void answer(h.channel, message.replyTo?.to ?? "", message.id, "Hello **there**, world! This reply streams in.", { pieces: 12, gapMs: 50 });
    };
    const updateId = h.fake.injectMessage({ chatId: OWNER.chatId, userId: OWNER.userId, username: OWNER.username, text: "hi agent" });
    await waitFor(() => h.submits.length === 1, "the submit");
    assert.deepEqual(
      { ...h.submits[0] },
      {
        id: `telegram:${updateId}`,
        channel: "telegram",
        text: "hi agent",
        priority: "human",
        replyTo: { channel: "telegram", to: String(OWNER.chatId) },
        meta: { from: OWNER.username },
        duplicate: false,
      },
    );
    await waitFor(() => h.fake.messagesIn(OWNER.chatId).at(-1) === "Hello there, world! This reply streams in.", "the final reply in the chat");
    // One message: the preview was sent once, edited while streaming, and replaced by the formatted final text.
    const messages = h.fake.chatMessages(OWNER.chatId).filter((message) => message.fromBot);
    assert.equal(messages.length, 1);
    assert.equal(messages[0]?.parseMode, "HTML");
    assert.deepEqual(messages[0]?.entities, [{ type: "bold", offset: 6, length: 5 }]);
    const sends = h.fake.calls("sendMessage", OWNER.chatId);
    assert.equal(sends.length, 1);
    assert.equal(sends[0]?.params.parse_mode, undefined, "the preview is plain text");
    // The reply quotes the question.
    assert.deepEqual((sends[0]?.params.reply_parameters as { message_id: number }).message_id, h.fake.chatMessages(OWNER.chatId)[0]?.message_id);
    // Preview edits are throttled (~100 ms apart in this test), the final edit comes right away.
    const edits = h.fake.calls("editMessageText", OWNER.chatId);
    const previewEdits = edits.filter((call) => call.params.parse_mode === undefined);
    assert.ok(previewEdits.length >= 1, "the preview was edited while streaming");
    for (let i = 1; i < previewEdits.length; i++) {
      assert.ok((previewEdits[i]?.time ?? 0) - (previewEdits[i - 1]?.time ?? 0) >= 80, "preview edits at most once per interval");
    }
    assert.equal(edits.at(-1)?.params.parse_mode, "HTML");
  } finally {
    await h.stop();
  }
});

test("messages from chats and users not on the allowlist are dropped without any API call to them, and logged", async () => {
  const h = await startHarness({ allowedChatIds: [-100555] });
  try {
    const stranger = { chatId: 999001, userId: 999001, username: "stranger" };
    const strangerUpdate = h.fake.injectMessage({ ...stranger, text: "let me in" });
    const strangerCommand = h.fake.injectMessage({ ...stranger, text: "/status" });
    // A group on the chat allowlist works for any member.
    const groupUpdate = h.fake.injectMessage({ chatId: -100555, userId: 31337, firstName: "Member", text: "from the group" });
    await waitConfirmed(h.fake, groupUpdate);
    assert.deepEqual(
      h.submits.map((message) => [message.id, message.replyTo?.to, message.meta?.from]),
      [[`telegram:${groupUpdate}`, "-100555", "Member"]],
    );
    assert.deepEqual(h.fake.callsTo(stranger.chatId), [], "nothing at all was sent to the stranger");
    assert.deepEqual(h.controlCalls, [], "the stranger's /status never reached the daemon");
    const warnings = h.logs.filter((entry) => entry.level === "warn" && entry.obj.chatId === stranger.chatId && entry.obj.userId === stranger.userId);
    assert.deepEqual(
      warnings.map((entry) => entry.obj.updateId),
      [strangerUpdate, strangerCommand],
    );
  } finally {
    await h.stop();
  }
});

test("an empty allowlist fails closed: a startup warning, and nobody is let in", async () => {
  const fake = await startFakeTelegram();
  const logs: LogEntry[] = [];
  const submits: string[] = [];
  const channel = createTelegramChannel({ token: fake.token, apiRoot: fake.apiRoot, pollTimeoutSeconds: 1 });
  try {
    await channel.start({
      commands: { submit: async (message) => (submits.push(message.id), { status: "queued", requestId: message.id }) },
      control: { status: async () => assert.fail("no control"), abort: async () => undefined, newSession: async () => undefined },
      logger: recordingLogger(logs),
    });
    assert.ok(logs.some((entry) => entry.level === "warn" && /allowlist is empty/.test(entry.msg)));
    const update = fake.injectMessage({ chatId: OWNER.chatId, userId: OWNER.userId, text: "hello?" });
    await waitConfirmed(fake, update);
    assert.deepEqual(submits, []);
    assert.deepEqual(fake.callsTo(OWNER.chatId), []);
  } finally {
    await channel.stop();
    await fake.close();
  }
});

test("polling survives 409, 500 and 429 from getUpdates; every message is submitted exactly once", async () => {
  const h = await startHarness();
  try {
    const first = h.fake.injectMessage({ chatId: OWNER.chatId, userId: OWNER.userId, text: "one" });
    await waitFor(() => h.submits.length === 1, "the first message");
    h.fake.failNext("getUpdates", {
      error_code: 409,
      description: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
    });
    h.fake.failNext("getUpdates", { error_code: 500 });
    h.fake.failNext("getUpdates", { error_code: 429, description: "Too Many Requests: retry after 1", retry_after: 1 });
    // Wake the held poll so the next getUpdates calls hit the faults.
    const second = h.fake.injectMessage({ chatId: OWNER.chatId, userId: OWNER.userId, text: "two" });
    const third = h.fake.injectMessage({ chatId: OWNER.chatId, userId: OWNER.userId, text: "three" });
    await waitFor(() => h.submits.length === 3, "all three messages", 8000);
    const failures = h.fake.calls("getUpdates").filter((call) => call.outcome !== true && call.outcome !== undefined);
    assert.deepEqual(
      failures.map((call) => call.outcome),
      [409, 500, 429],
    );
    // retry_after was honoured: the call after the 429 came >= 1 s later.
    const calls = h.fake.calls("getUpdates");
    const after429 = calls[calls.findIndex((call) => call.outcome === 429) + 1];
    const the429 = calls.find((call) => call.outcome === 429);
    assert.ok(after429 && the429 && after429.time - the429.time >= 950, "waited retry_after");
    assert.ok(
      h.logs.some((entry) => entry.level === "warn" && /conflict/i.test(entry.msg)),
      "the 409 was logged",
    );
    // A message arriving after the storm still gets through.
    const fourth = h.fake.injectMessage({ chatId: OWNER.chatId, userId: OWNER.userId, text: "four" });
    await waitFor(() => h.submits.length === 4, "the fourth message");
    await sleep(150);
    assert.deepEqual(
      h.submits.map((message) => [message.id, message.text, message.duplicate]),
      [
        [`telegram:${first}`, "one", false],
        [`telegram:${second}`, "two", false],
        [`telegram:${third}`, "three", false],
        [`telegram:${fourth}`, "four", false],
      ],
    );
  } finally {
    await h.stop();
  }
});

test("a competing getUpdates consumer causes 409s the channel recovers from", async () => {
  const h = await startHarness({}, { conflict: "terminate-old" });
  try {
    // Another process polls with the same token: the channel's held poll is terminated with 409.
    const competitor = await fetch(`${h.fake.apiRoot}/bot${h.fake.token}/getUpdates?timeout=1`);
    const competitorBody = (await competitor.json()) as { ok: boolean; error_code?: number };
    await waitFor(() => h.logs.some((entry) => entry.level === "warn" && /conflict/i.test(entry.msg)), "the conflict warning");
    // The channel took the poll back (terminating the competitor, as Telegram does), and works.
    assert.deepEqual(competitorBody, {
      ok: false,
      error_code: 409,
      description: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
    });
    const update = h.fake.injectMessage({ chatId: OWNER.chatId, userId: OWNER.userId, text: "still there?" });
    await waitFor(() => h.submits.some((message) => message.id === `telegram:${update}`), "the message after the conflict");
  } finally {
    await h.stop();
  }
});

test("the fake rejects a second concurrent getUpdates with 409 (default policy)", async () => {
  const h = await startHarness();
  try {
    const response = await fetch(`${h.fake.apiRoot}/bot${h.fake.token}/getUpdates`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ timeout: 1 }),
    });
    assert.equal(response.status, 409);
    assert.deepEqual(await response.json(), {
      ok: false,
      error_code: 409,
      description: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
    });
  } finally {
    await h.stop();
  }
});

test("a message whose submit fails is retried (not confirmed) and then submitted once", async () => {
  const h = await startHarness();
  try {
    h.failSubmits(2);
    const update = h.fake.injectMessage({ chatId: OWNER.chatId, userId: OWNER.userId, text: "retry me" });
    await waitFor(() => h.submits.length === 1, "the eventual submit");
    await waitConfirmed(h.fake, update);
    await sleep(100);
    assert.equal(h.attempts.length, 3);
    assert.deepEqual(
      h.submits.map((message) => [message.id, message.duplicate]),
      [[`telegram:${update}`, false]],
    );
    assert.ok(h.logs.some((entry) => entry.level === "error" && entry.obj.err === "queue unavailable"));
  } finally {
    await h.stop();
  }
});

test("a message over the prompt cap is refused once with the reason in the chat, confirmed, never retried", async () => {
  const h = await startHarness();
  try {
    h.refuseSubmits(1);
    const update = h.fake.injectMessage({ chatId: OWNER.chatId, userId: OWNER.userId, text: "one too many" });
    await waitConfirmed(h.fake, update);
    await waitFor(() => h.fake.messagesIn(OWNER.chatId).some((t) => t.startsWith("⚠️ Not queued: too many prompts waiting")), "the refusal in the chat");
    await sleep(300);
    assert.equal(h.attempts.length, 1, "a refusal is not retried");
    assert.equal(h.submits.length, 0);
  } finally {
    await h.stop();
  }
});

test("/status, /new and /abort are answered directly by the daemon control, not queued", async () => {
  const h = await startHarness();
  try {
    const chat = OWNER.chatId;
    h.status = {
      state: "busy",
      queue: { human: 1, event: 2, heartbeat: 0 },
      processed: 12,
      lastHeartbeat: Date.now() - 120_000,
      current: { requestId: "telegram:1", channel: "telegram", startedAt: Date.now() - 5000 },
    };
    h.fake.injectMessage({ chatId: chat, userId: OWNER.userId, text: "/status" });
    await waitFor(() => h.fake.messagesIn(chat).length === 1, "the /status answer");
    assert.match(
      h.fake.messagesIn(chat)[0] ?? "",
      /busy: telegram:1 \(telegram\) for 5s\nQueue: 1 human · 2 event · 0 heartbeat\nProcessed: 12 · last heartbeat: 2m ago/,
    );
    h.fake.injectMessage({ chatId: chat, userId: OWNER.userId, text: "/new" });
    await waitFor(() => h.fake.messagesIn(chat).length === 2, "the /new answer");
    h.fake.injectMessage({ chatId: chat, userId: OWNER.userId, text: `/abort@${FAKE_BOT_USER.username}` });
    await waitFor(() => h.fake.messagesIn(chat).length === 3, "the /abort answer");
    assert.deepEqual(h.controlCalls, ["status", "newSession", "abort"]);
    assert.deepEqual(h.fake.messagesIn(chat).slice(1), ["🆕 Started a new session.", "⏹ Aborted the current turn."]);
    assert.deepEqual(h.submits, [], "commands are not queued");
    // The command menu was registered at startup.
    assert.deepEqual(
      (h.fake.commands as Array<{ command: string }>).map((entry) => entry.command),
      ["status", "new", "abort"],
    );
  } finally {
    await h.stop();
  }
});

test("stop() ends polling promptly and confirms the handled updates", async () => {
  const h = await startHarness();
  const update = h.fake.injectMessage({ chatId: OWNER.chatId, userId: OWNER.userId, text: "before stop" });
  await waitFor(() => h.submits.length === 1, "the submit");
  const started = Date.now();
  await h.channel.stop();
  assert.ok(Date.now() - started < 1000, "stop does not wait for the long poll to time out");
  const calls = h.fake.calls("getUpdates").length;
  await sleep(200);
  assert.equal(h.fake.calls("getUpdates").length, calls, "no polling after stop");
  assert.equal(h.fake.pendingUpdates, 0);
  assert.ok(h.fake.calls("getUpdates").some((call) => Number(call.params.offset) === update + 1));
  await h.fake.close();
});
