// Proves the pi test harness: real pi (RPC child process and in-process SDK) against the fake LLM.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { type FakeLlm, startFakeLlm } from "../helpers/fake-llm.js";
import { createPiEnv, createSdkSession, messageText, type PiEnv, startRpcPi } from "../helpers/pi-env.js";

/** Run `fn` with a fresh fake LLM + isolated pi env, always cleaning both up. */
async function withEnv(fn: (llm: FakeLlm, env: PiEnv) => Promise<void>, extensions: string[] = []): Promise<void> {
  const llm = await startFakeLlm();
  const env = createPiEnv({ llmUrl: llm.url, extensions });
  try {
    await fn(llm, env);
  } finally {
    env.cleanup();
    await llm.close();
  }
}

test("rpc pi: prompt reaches the fake LLM and the reply comes back as RPC events", async () => {
  await withEnv(async (llm, env) => {
    llm.setResponder((req) => (req.lastUserText === "hello" ? { text: "ok" } : { text: "unexpected" }));
    const pi = await startRpcPi(env);
    try {
      const events = await pi.promptAndWait("hello", 10_000);
      const req = await llm.waitForRequest((r) => r.lastUserText === "hello", 1000);
      assert.equal(req.body.model, "fake-model");
      assert.equal(req.body.stream, true);
      assert.ok(events.some((e) => e.type === "agent_start"));
      assert.deepEqual(pi.assistantTexts(), ["ok"]);
      const deltas = events.flatMap((e) =>
        e.type === "message_update" && e.assistantMessageEvent.type === "text_delta" ? [e.assistantMessageEvent.delta] : [],
      );
      assert.equal(deltas.join(""), "ok");
      assert.equal(await pi.client.getLastAssistantText(), "ok");
    } finally {
      await pi.stop();
    }
  });
});

test("sdk session: prompt reaches the fake LLM and the reply comes back as session events", async () => {
  await withEnv(async (llm, env) => {
    llm.setResponder(() => ({ text: "ok from sdk", chunkDelayMs: 5 }));
    const sdk = await createSdkSession(env);
    try {
      assert.equal(sdk.session.model?.provider, "fake");
      await sdk.session.prompt("hello"); // resolves after the whole run
      const req = await llm.waitForRequest((r) => r.lastUserText === "hello", 1000);
      assert.equal(req.body.messages?.at(-1)?.role, "user");
      const end = sdk.events.find((e) => e.type === "agent_end");
      assert.ok(end && end.type === "agent_end");
      const last = end.messages.at(-1);
      assert.equal(last?.role, "assistant");
      assert.equal(messageText(last), "ok from sdk");
      assert.equal(sdk.session.isStreaming, false);
      assert.deepEqual(sdk.extensionErrors, []);
    } finally {
      await sdk.dispose();
    }
  });
});

test("rpc pi: extension's sendUserMessage on session_start reaches the fake LLM", async () => {
  const extDir = mkdtempSync(join(tmpdir(), "pi-gw-ext-"));
  const file = join(extDir, "send-on-start.ts");
  writeFileSync(
    file,
    [
      'import type { ExtensionAPI } from "@mariozechner/pi-coding-agent";',
      "export default function (pi: ExtensionAPI) {",
      '  pi.on("session_start", () => { pi.sendUserMessage("from-extension"); });',
      "}",
    ].join("\n"),
  );
  try {
    await withEnv(
      async (llm, env) => {
        const pi = await startRpcPi(env);
        try {
          const req = await llm.waitForRequest((r) => r.lastUserText === "from-extension", 5000);
          assert.equal(req.body.messages?.filter((m) => m.role === "user").length, 1);
          await pi.waitForEvent((e) => e.type === "agent_end", 5000);
          assert.deepEqual(pi.assistantTexts(), ["ok"]);
          assert.equal(pi.events.filter((e) => e.type === "extension_error").length, 0);
        } finally {
          await pi.stop();
        }
      },
      [file],
    );
  } finally {
    rmSync(extDir, { recursive: true, force: true });
  }
});

test('fake LLM with record: "counts": a pi turn is counted and observed as it arrives, no request kept (a long soak must not hold every conversation)', async () => {
  const llm = await startFakeLlm({ record: "counts" });
  const env = createPiEnv({ llmUrl: llm.url });
  const seen: string[] = [];
  llm.observe((r) => seen.push(r.lastUserText));
  try {
    const pi = await startRpcPi(env);
    try {
      await pi.promptAndWait("hello", 10_000);
    } finally {
      await pi.stop();
    }
    assert.deepEqual(seen, ["hello"]);
    assert.equal(llm.counts.chat, 1);
    assert.equal(llm.requests.length, 0, "nothing kept");
  } finally {
    env.cleanup();
    await llm.close();
  }
});

test('fake LLM with record: "lean": every request kept, but once answered only its first message besides its last user text', async () => {
  const llm = await startFakeLlm({ record: "lean" });
  try {
    const messages = [
      { role: "system", content: "you are a test" },
      { role: "user", content: "a long conversation" },
      { role: "assistant", content: "ok" },
      { role: "user", content: "the last question" },
    ];
    const res = await fetch(`${llm.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "fake-model", messages }) });
    assert.equal(res.status, 200);
    await res.text();
    const [request] = llm.chatRequests();
    assert.equal(request?.lastUserText, "the last question");
    assert.deepEqual(request?.body.messages, [messages[0]], "the conversation is dropped once answered");
    assert.ok(request!.promptTokens > 10, "the token count stays");
  } finally {
    await llm.close();
  }
});
