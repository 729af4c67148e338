/**
 * The gateway tools in the built daemon (real pi SDK, fake LLM playing tool calls, fake Telegram, a
 * WebSocket client): the LLM request offers them; gateway_schedule {in:"2s"} becomes one
 * schedule.fired turn about 2 s later, also across a SIGKILL and restart; gateway_notify reaches
 * the WebSocket client and the Telegram owner with its file; the listing tools work; bad input is
 * an error result the model reads and stores nothing.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeEach, describe, test } from "node:test";
import { createEvent } from "../../src/protocol/event.js";
import { startFakeTelegram, type FakeTelegram } from "../helpers/fake-telegram.js";
import type { FakeLlmRequest } from "../helpers/fake-llm.js";
import { usePiSuite } from "../helpers/pi-suite.js";
import { offeredTools, toolResults, toolScript, type Step } from "../helpers/tool-script.js";
import { sleep, waitFor } from "../helpers/wait.js";
import { wsListener } from "../helpers/ws-listener.js";

const TOKEN = "tools-test-token-0123456789abcdef";
const OWNER = 333;
const TOOLS = ["gateway_notify", "gateway_schedule", "gateway_schedules", "gateway_unschedule", "gateway_send", "gateway_sessions"];

let telegram: FakeTelegram;
const suite = usePiSuite({
  aof: true,
  flushEach: true,
  token: TOKEN,
  env: () => ({ TELEGRAM_BOT_TOKEN: telegram.token, TELEGRAM_API_ROOT: telegram.apiRoot, TELEGRAM_ALLOWED_USERS: String(OWNER) }),
  afterEnd: () => telegram.close(),
});
beforeEach(async () => {
  telegram = await startFakeTelegram();
  telegram.addChat(OWNER);
});

/** Plays `steps` when an event carrying `key` reaches the daemon; resolves with the request after the last tool step. */
async function play(key: string, steps: Step[]): Promise<FakeLlmRequest> {
  suite.llm.setResponder(toolScript({ [key]: [...steps, { text: `${key} done` }] }));
  await suite.bus.push(createEvent("tools.test", "test", { run: key }));
  const last = `${key}__${steps.length - 1}__0`;
  return suite.llm.waitForRequest((r) => toolResults(r).has(last), 20_000);
}

const firedTurns = (text: string) => suite.llm.requests.filter((r) => r.lastUserText.includes("schedule.fired") && r.lastUserText.includes(text));

describe("gateway tools in the daemon", () => {
  test("the LLM is offered the tools; gateway_schedule in 2s fires one schedule.fired turn about 2 s later", async () => {
    await suite.daemon();
    const request = await play("sched-alpha", [{ calls: [{ name: "gateway_schedule", arguments: { text: "wake-alpha", in: "2s" } }] }]);
    const start = Date.now();
    for (const name of TOOLS) assert.ok(offeredTools(request).includes(name), `${name} offered: ${offeredTools(request).join(",")}`);
    assert.match(toolResults(request).get("sched-alpha__0__0")!, /^scheduled \S+ for gateway: once at \S+ \(in [12](\.\d+)?s\)/);
    await waitFor(() => firedTurns("wake-alpha").length > 0, "the schedule.fired turn", 15_000);
    const elapsed = Date.now() - start;
    assert.ok(elapsed >= 1_000 && elapsed < 6_000, `fired after ${elapsed} ms`);
    await sleep(2_000);
    assert.equal(firedTurns("wake-alpha").length, 1, "fired once");
    assert.deepEqual(await suite.bus.schedules.list(), [], "the one-shot is gone");
  });

  test("SIGKILL right after scheduling, restart: it still fires exactly once", async () => {
    const first = await suite.daemon();
    const calls = [{ name: "gateway_schedule", arguments: { text: "wake-beta", in: "4s", id: "beta" } }];
    await play("sched-beta", [{ calls }]);
    await first.kill();
    const [stored] = await suite.bus.schedules.list();
    assert.equal(stored?.id, "beta");
    assert.equal(stored?.session, "gateway");
    // The killed daemon's lease is still live for a while: take over as a service manager's restart does.
    await suite.daemon({}, ["--takeover"]);
    await waitFor(() => firedTurns("wake-beta").length > 0, "the schedule.fired turn after the restart", 20_000);
    await sleep(2_500);
    assert.equal(firedTurns("wake-beta").length, 1, "fired once");
  });

  test("gateway_notify with a file reaches the WebSocket client and the Telegram owner", async () => {
    const d = await suite.daemon();
    const client = await wsListener(d.url, TOKEN);
    try {
      writeFileSync(join(suite.piEnv.cwd, "report.txt"), "42 GB\n");
      const request = await play("notify-owner", [{ calls: [{ name: "gateway_notify", arguments: { text: "backup-done-42", file: "report.txt" } }] }]);
      assert.match(toolResults(request).get("notify-owner__0__0")!, /^notification \S+ stored with file .*report\.txt: the daemon delivers it/);
      const notice = await waitFor(() => client.messages.find((m) => m.type === "notify"), "the notify frame", 10_000);
      assert.equal(notice.type === "notify" && notice.text, "backup-done-42");
      assert.equal(notice.type === "notify" && notice.from, "gateway");
      assert.equal(notice.type === "notify" && notice.file, join(suite.piEnv.cwd, "report.txt"));
      await waitFor(() => telegram.messagesIn(OWNER).some((t) => t.includes("backup-done-42")), "the owner's Telegram message", 10_000);
    } finally {
      client.close();
    }
  });

  test("gateway_schedules lists, gateway_unschedule cancels, gateway_sessions shows this session", async () => {
    await suite.daemon();
    const request = await play("list-things", [
      { calls: [{ name: "gateway_schedule", arguments: { text: "standup notes", cron: "0 9 * * 1-5", timezone: "Europe/Berlin", id: "standup" } }] },
      { calls: [{ name: "gateway_schedules", arguments: {} }] },
      { calls: [{ name: "gateway_unschedule", arguments: { id: "standup" } }] },
      { calls: [{ name: "gateway_sessions", arguments: {} }] },
    ]);
    const results = toolResults(request);
    assert.match(results.get("list-things__0__0")!, /^scheduled standup for gateway: cron "0 9 \* \* 1-5", next run /);
    assert.match(
      results.get("list-things__1__0")!,
      /^standup: for gateway \(this session\), cron "0 9 \* \* 1-5" \(Europe\/Berlin\), next \S+ \(in .+\): "standup notes"$/,
    );
    assert.equal(results.get("list-things__2__0"), "cancelled schedule standup");
    assert.match(
      results.get("list-things__3__0")!,
      /^gateway \(this session\): central, durable, live, daemon pid \d+ on \S+, backlog \d+ waiting, \d+ in flight$/m,
    );
    assert.deepEqual(await suite.bus.schedules.list(), []);
  });

  test("bad input is an error result the model reads, and nothing is stored", async () => {
    await suite.daemon();
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const bad: Array<[string, Record<string, unknown>, RegExp]> = [
      ["gateway_schedule", { text: "x", in: "-5s" }, /in must be more than zero|invalid in/],
      ["gateway_schedule", { text: "x", cron: "bogus" }, /^invalid cron pattern "bogus"/],
      ["gateway_schedule", { text: "x", at: future, in: "1m" }, /^give only one of at, in, cron \(got at and in\)$/],
      ["gateway_schedule", { text: "x" }, /^give one of at, in or cron$/],
      ["gateway_schedule", { text: "   ", in: "1m" }, /the schedule's text is empty/],
      ["gateway_schedule", { text: "x", in: "1m", id: "no spaces\nallowed" }, /^invalid schedule id/],
      ["gateway_notify", { text: "x", file: "/nonexistent/report.txt" }, /^file \/nonexistent\/report\.txt does not exist$/],
      ["gateway_notify", { text: "x", file: "/tmp" }, /^file \/tmp is not a regular file/],
      ["gateway_notify", { text: "" }, /empty/],
      ["gateway_unschedule", { id: "nope" }, /^no schedule "nope" \(gateway_schedules lists them\)$/],
      ["gateway_send", { session: "nobody", text: "hi" }, /^unknown session "nobody"; live sessions: none besides this one$/],
      ["gateway_send", { session: "gateway", text: "hi" }, /^"gateway" is this session/],
      ["gateway_send", { session: "bad id!", text: "hi" }, /^invalid session id/],
    ];
    const request = await play(
      "bad-input",
      bad.map(([name, args]) => ({ calls: [{ name, arguments: args }] })),
    );
    const results = toolResults(request);
    bad.forEach(([name, args, expected], step) => {
      const text = results.get(`bad-input__${step}__0`) ?? "(no result)";
      assert.match(text, expected, `${name} ${JSON.stringify(args)}: ${text}`);
    });
    assert.deepEqual(await suite.bus.schedules.list(), [], "no schedule stored");
    assert.equal(await suite.bus.notifications.pendingCount(), 0, "no notification stored");
    assert.equal((await suite.bus.journal(200)).filter((e) => e.kind === "notify").length, 0);
  });
});
