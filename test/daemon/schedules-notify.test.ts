/**
 * Schedules and notifications with the built daemon (real pi SDK, fake LLM, fake Telegram, a
 * WebSocket client): a schedule `in 2s` becomes a `schedule.fired` turn about 2 s later, exactly
 * once even when the daemon is killed with SIGKILL and restarted in between; `pi-gateway notify`
 * reaches WebSocket clients and the Telegram owner, and waits while no daemon runs.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { beforeEach, describe, test } from "node:test";
import { runCli, CLI_BIN } from "../helpers/cli.js";
import { startFakeTelegram, type FakeTelegram } from "../helpers/fake-telegram.js";
import { usePiSuite } from "../helpers/pi-suite.js";
import { sleep, waitFor } from "../helpers/wait.js";
import { wsListener } from "../helpers/ws-listener.js";

const TOKEN = "schedules-test-token-0123456789abcdef";
const OWNER = 222;

let telegram: FakeTelegram;
const suite = usePiSuite({
  aof: true,
  flushEach: true,
  token: TOKEN,
  env: () => ({ TELEGRAM_BOT_TOKEN: telegram.token, TELEGRAM_API_ROOT: telegram.apiRoot, TELEGRAM_ALLOWED_USERS: String(OWNER), GATEWAY_PRESENCE_TTL: "3s" }),
  afterEnd: () => telegram.close(),
});
beforeEach(async () => {
  telegram = await startFakeTelegram();
  // The owner has written to the bot before (else Telegram answers "chat not found").
  telegram.addChat(OWNER);
  suite.llm.setResponder(() => ({ text: "ok" }));
});

const cli = (args: string[]) => runCli(args, { env: { ...suite.env(), GATEWAY_SESSION_ID: "" } });
const firedTurns = (text: string) => suite.llm.requests.filter((r) => r.lastUserText.includes("schedule.fired") && r.lastUserText.includes(text));

describe("schedules with the daemon", () => {
  test("a schedule in 2s becomes one schedule.fired turn about 2 s later", async () => {
    await suite.daemon();
    const added = await cli(["schedule", "add", "--in", "2s", "wake-up-alpha"]);
    assert.equal(added.code, 0, added.stderr);
    const start = Date.now();
    await waitFor(() => firedTurns("wake-up-alpha").length > 0, "the schedule.fired turn", 15_000);
    const elapsed = Date.now() - start;
    assert.ok(elapsed >= 1_500 && elapsed < 6_000, `fired after ${elapsed} ms`);
    await sleep(2_000);
    assert.equal(firedTurns("wake-up-alpha").length, 1, "fired once");
    assert.deepEqual(await suite.bus.schedules.list(), [], "the one-shot is gone");
  });

  test("SIGKILL and restart before it is due: it still fires exactly once", async () => {
    const first = await suite.daemon();
    assert.equal((await cli(["schedule", "add", "--in", "4s", "wake-up-beta"])).code, 0);
    await first.kill();
    await sleep(1_000);
    // The killed daemon's lease is still live for a while: take over like a service manager's restart.
    await suite.daemon({}, ["--takeover"]);
    await waitFor(() => firedTurns("wake-up-beta").length > 0, "the schedule.fired turn after the restart", 20_000);
    await sleep(2_500);
    assert.equal(firedTurns("wake-up-beta").length, 1, "fired once");
  });

  test("a one-shot that fell due while no daemon ran fires once at the next start", async () => {
    await suite.bus.register({ id: "gateway", role: "central", durable: true, instance: "old" });
    await suite.bus.schedules.add({ id: "missed", session: "gateway", text: "wake-up-gamma", kind: "at", due: Date.now() - 3_600_000, createdBy: "test" });
    await suite.daemon({}, ["--takeover"]);
    await waitFor(() => firedTurns("wake-up-gamma").length > 0, "the missed schedule's turn", 20_000);
    await sleep(2_000);
    assert.equal(firedTurns("wake-up-gamma").length, 1);
  });
});

describe("notifications with the daemon", () => {
  test("pi-gateway notify reaches every WebSocket client and the Telegram owner, once", async () => {
    const d = await suite.daemon();
    const client = await wsListener(d.url, TOKEN);
    // `pi-gateway chat` in its interactive mode (stdin left open) is a WebSocket client too.
    const chat = spawn(process.execPath, [CLI_BIN, "chat", "--url", `${d.url.replace(/^http/, "ws")}/ws`, "--token", TOKEN], {
      env: suite.env(),
      stdio: ["pipe", "pipe", "pipe"],
    });
    let chatOut = "";
    chat.stdout.on("data", (data: Buffer) => (chatOut += data.toString()));
    try {
      await sleep(1_500); // the chat client connects
      const sent = await cli(["notify", "--from", "backup\u001b[31m", "backup finished: 42 GB"]);
      assert.equal(sent.code, 0, sent.stderr);
      assert.doesNotMatch(sent.stderr, /no daemon owns/, "a daemon runs: no waiting note");
      const notice = await waitFor(() => client.messages.find((m) => m.type === "notify"), "the notify frame", 10_000);
      assert.equal(notice.type === "notify" && notice.text, "backup finished: 42 GB");
      assert.equal(notice.type === "notify" && notice.from, "backup\u001b[31m");
      await waitFor(() => chatOut.includes("backup finished: 42 GB"), "the chat client's line", 10_000);
      assert.match(chatOut, /^\[notification from backup\\x1b\[31m\] backup finished: 42 GB$/m, "one line, the escape sequence made harmless");
      await waitFor(() => telegram.messagesIn(OWNER).some((t) => t.includes("backup finished: 42 GB")), "the owner's Telegram message", 10_000);
      await sleep(1_500);
      assert.equal(client.messages.filter((m) => m.type === "notify").length, 1);
      assert.equal(telegram.messagesIn(OWNER).filter((t) => t.includes("backup finished")).length, 1);
      assert.equal(await suite.bus.notifications.pendingCount(), 0);
      assert.match((await cli(["tail", "--kind", "notified"])).stdout, /notified\s+\S+ -> .*websocket/);
    } finally {
      client.close();
      chat.kill();
    }
  });

  test("with no daemon it waits (status shows 1 pending); a daemon that starts delivers it once", async () => {
    const sent = await cli(["notify", "while-you-were-out"]);
    assert.equal(sent.code, 0, sent.stderr);
    assert.match((await cli(["status"])).stdout, /^notify\s+1 pending/m);
    await suite.daemon();
    await waitFor(() => telegram.messagesIn(OWNER).some((t) => t.includes("while-you-were-out")), "delivery after the start", 15_000);
    await sleep(1_500);
    assert.equal(telegram.messagesIn(OWNER).filter((t) => t.includes("while-you-were-out")).length, 1);
    assert.match((await cli(["status"])).stdout, /^notify\s+0 pending/m);
  });
});
