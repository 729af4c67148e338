/**
 * Replies survive reconnects (issue #17 item 2), end to end: `pi-gateway chat` asks, the daemon
 * (real pi, fake LLM) is killed mid-reply and started again on the same port; chat reconnects with
 * its client id and prints the one answer of the replayed turn, then exits 0.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { runCli } from "../helpers/cli.js";
import { usePiSuite } from "../helpers/pi-suite.js";
import { freePort } from "../helpers/redis-server.js";
import { sleep } from "../helpers/wait.js";

const TOKEN = "ws-resume-test-token-0123456789";
const suite = usePiSuite({ aof: true, flushEach: true, token: TOKEN });

describe("replies survive reconnects", () => {
  test("pi-gateway chat: daemon killed mid-reply and restarted; chat reconnects and gets the one answer", async () => {
    suite.llm.setResponder((r) =>
      r.lastUserText.includes("long task")
        ? { text: `${"step ".repeat(20)}DONE-${r.lastUserText.includes("gateway restarted") ? "replay" : "first"}`, chunkDelayMs: 100 }
        : { text: "ok" },
    );
    const port = await freePort();
    const first = await suite.daemon({}, ["--port", String(port)]);
    const chat = runCli(["chat", "--url", `ws://127.0.0.1:${port}/ws`, "--message", "long task please"], { env: suite.env(), timeoutMs: 90_000 });
    await suite.llm.waitForRequest((r) => r.lastUserText.includes("long task"), 20_000);
    await sleep(400); // a few deltas reach chat
    await first.kill();
    await sleep(1_000); // chat notices and starts reconnecting
    await suite.daemon({}, ["--port", String(port)]);

    const result = await chat;
    assert.equal(result.code, 0, `chat failed: ${result.stderr}\n${result.stdout}`);
    assert.match(result.stdout, /connection lost: reconnecting/);
    assert.match(result.stdout, /reconnected/);
    assert.equal((result.stdout.match(/DONE-replay/g) ?? []).length, 1, `one answer:\n${result.stdout}`);
    assert.doesNotMatch(result.stdout, /DONE-first/, "the interrupted turn never finished");
    const asked = suite.llm.chatRequests().filter((r) => r.lastUserText.includes("long task"));
    assert.equal(asked.length, 2, "the interrupted turn, then its replay");
    assert.match(asked[1]!.lastUserText, /gateway restarted while you were working/);
  });
});
