/**
 * The gateway tools in the REAL pi (rpc mode) with the extension: a satellite's gateway_send reaches
 * the daemon's central session, whose gateway_send answers back to the satellite; an unknown
 * session is an error result the model reads (isError); with Redis down a tool gives an error
 * result within a few seconds and pi goes on.
 */
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { afterEach, describe, test } from "node:test";
import { startExtensionPi } from "../helpers/extension-pi.js";
import type { RpcEvent, RpcPi } from "../helpers/pi-env.js";
import { usePiSuite } from "../helpers/pi-suite.js";
import { offeredTools, toolResults, toolScript } from "../helpers/tool-script.js";
import { sleep, waitFor } from "../helpers/wait.js";
import { wsListener } from "../helpers/ws-listener.js";

const cleanups: Array<() => Promise<void> | void> = [];
const TOKEN = "tools-rpc-token-0123456789abcdef";
const suite = usePiSuite({ flushEach: true, token: TOKEN });
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

const startPi = (env: Record<string, string>): Promise<RpcPi> => startExtensionPi(suite, cleanups, env, "3s");

const toolEnd = (name: string) => (e: RpcEvent) => e.type === "tool_execution_end" && e.toolName === name;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("gateway tools in the real pi", () => {
  test("satellite -> central with gateway_send, and the central's answer comes back", async () => {
    await suite.daemon();
    const sat = await startPi({ GATEWAY_ROLE: "satellite", GATEWAY_ID: "sat-1" });
    await waitFor(async () => (await suite.bus.sessions()).some((s) => s.id === "sat-1" && s.live), "the satellite registered", 10_000);
    suite.llm.setResponder(
      toolScript({
        "ask-central": [{ calls: [{ name: "gateway_send", arguments: { session: "gateway", text: "question-from-sat" } }] }, { text: "asked" }],
        "question-from-sat": [{ calls: [{ name: "gateway_send", arguments: { session: "sat-1", text: "answer-from-central" } }] }, { text: "answered" }],
        "answer-from-central": [{ text: "thanks" }],
      }),
    );
    await sat.prompt("ask-central");
    const asked = await suite.llm.waitForRequest((r) => toolResults(r).has("ask-central__0__0"), 10_000);
    assert.ok(offeredTools(asked).includes("gateway_send"), "the extension registered the tools");
    assert.match(toolResults(asked).get("ask-central__0__0")!, /^sent to gateway \(event \S+\)/);
    const atCentral = await suite.llm.waitForRequest((r) => r.lastUserText.includes("question-from-sat"), 15_000);
    assert.match(atCentral.lastUserText, /`session\.message` from `session:sat-1`/);
    assert.match(atCentral.lastUserText, /origin session: `sat-1`/);
    const answered = await suite.llm.waitForRequest((r) => toolResults(r).has("question-from-sat__0__0"), 10_000);
    assert.match(toolResults(answered).get("question-from-sat__0__0")!, /^sent to sat-1 /);
    const back = await suite.llm.waitForRequest((r) => r.lastUserText.includes("answer-from-central"), 15_000);
    assert.match(back.lastUserText, /origin session: `gateway`/);
    await sat.waitForEvent(
      (e) => e.type === "message_end" && "message" in e && e.message.role === "assistant" && JSON.stringify(e.message).includes("thanks"),
      10_000,
    );
    assert.equal(suite.llm.requests.filter((r) => r.lastUserText.includes("answer-from-central")).length, 1, "the answer reached the satellite once");
  });

  test("gateway_send to an unknown session: an error result naming the live sessions", async () => {
    await suite.daemon();
    const sat = await startPi({ GATEWAY_ROLE: "satellite", GATEWAY_ID: "sat-2" });
    await waitFor(async () => (await suite.bus.sessions()).some((s) => s.id === "sat-2" && s.live), "the satellite registered", 10_000);
    suite.llm.setResponder(toolScript({ "send-nowhere": [{ calls: [{ name: "gateway_send", arguments: { session: "nobody", text: "hello?" } }] }] }));
    await sat.prompt("send-nowhere");
    const end = await sat.waitForEvent(toolEnd("gateway_send"), 10_000);
    assert.equal((end as { isError?: boolean }).isError, true);
    const request = await suite.llm.waitForRequest((r) => toolResults(r).has("send-nowhere__0__0"), 10_000);
    assert.equal(toolResults(request).get("send-nowhere__0__0"), 'unknown session "nobody"; live sessions: gateway');
  });

  test("a satellite's schedule fires in that satellite; its notification goes through Redis to the daemon's WebSocket client", async () => {
    const d = await suite.daemon();
    const client = await wsListener(d.url, TOKEN);
    cleanups.push(() => client.close());
    const sat = await startPi({ GATEWAY_ROLE: "satellite", GATEWAY_ID: "sat-3" });
    await waitFor(async () => (await suite.bus.sessions()).some((s) => s.id === "sat-3" && s.live), "the satellite registered", 10_000);
    suite.llm.setResponder(
      toolScript({
        "sat-work": [
          { calls: [{ name: "gateway_schedule", arguments: { text: "wake-sat", in: "2s" } }] },
          { calls: [{ name: "gateway_notify", arguments: { text: "sat-says-hi" } }] },
        ],
      }),
    );
    await sat.prompt("sat-work");
    const request = await suite.llm.waitForRequest((r) => toolResults(r).has("sat-work__1__0"), 10_000);
    assert.match(toolResults(request).get("sat-work__0__0")!, /^scheduled \S+ for sat-3: once at /);
    const notice = await waitFor(() => client.messages.find((m) => m.type === "notify"), "the notify frame", 10_000);
    assert.equal(notice.type === "notify" && notice.from, "sat-3");
    assert.equal(notice.type === "notify" && notice.text, "sat-says-hi");
    const fired = (e: RpcEvent) => e.type === "message_end" && "message" in e && JSON.stringify(e.message).includes("schedule.fired");
    await sat.waitForEvent(fired, 15_000);
    await sleep(1_500);
    assert.equal(sat.events.filter(fired).length, 1, "fired once, in the satellite");
    const firedTurns = suite.llm.requests.filter((r) => r.lastUserText.includes("schedule.fired"));
    assert.equal(firedTurns.length, 1, "only the satellite had a schedule.fired turn (not the daemon)");
  });

  test("the gateway disabled by a bad setting: a tool says it is not running", async () => {
    const pi = await startPi({ GATEWAY_ROLE: "central", GATEWAY_POLL_INTERVAL: "bogus" });
    suite.llm.setResponder(toolScript({ "list-off": [{ calls: [{ name: "gateway_sessions", arguments: {} }] }] }));
    await pi.prompt("list-off");
    const request = await suite.llm.waitForRequest((r) => toolResults(r).has("list-off__0__0"), 10_000);
    assert.match(toolResults(request).get("list-off__0__0")!, /^the gateway is not running in this session/);
  });

  test("Redis down: the tool's error result comes within a few seconds and pi goes on", async () => {
    const port = await freePort();
    const pi = await startPi({ GATEWAY_ROLE: "central", REDIS_URL: `redis://127.0.0.1:${port}` });
    suite.llm.setResponder(toolScript({ "notify-down": [{ calls: [{ name: "gateway_notify", arguments: { text: "while redis is down" } }] }] }));
    await pi.prompt("notify-down");
    const call = await suite.llm.waitForRequest((r) => r.lastUserText.includes("notify-down"), 10_000);
    const request = await suite.llm.waitForRequest((r) => toolResults(r).has("notify-down__0__0"), 10_000);
    const waited = request.receivedAt - call.receivedAt;
    assert.ok(waited < 5_000, `answered after ${waited} ms`);
    assert.match(
      toolResults(request).get("notify-down__0__0")!,
      // The extension has no bus until Redis first answers: the tool waits its 3 s for one.
      /^Redis is unreachable \(not reached since the session started; waited 3000 ms\): could not store the notification; nothing was done/,
    );
    const end = await pi.waitForEvent(toolEnd("gateway_notify"), 5_000);
    assert.equal((end as { isError?: boolean }).isError, true);
    await pi.waitForEvent((e) => e.type === "agent_end", 10_000);
    suite.llm.setResponder(() => ({ text: "still-here" }));
    const events = await pi.promptAndWait("are you there", 10_000);
    assert.ok(events.some((e) => e.type === "message_end" && "message" in e && JSON.stringify(e.message).includes("still-here")));
  });
});
