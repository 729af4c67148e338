/**
 * One owner per session id, with real daemons: a second `pi-gateway daemon` on a held id exits
 * within 5 s naming the holder; `--takeover` displaces the first, which stops and exits.
 */
import assert from "node:assert/strict";
import { hostname } from "node:os";
import { describe, test } from "node:test";
import { createEvent } from "../../src/protocol/event.js";
import { runCli } from "../helpers/cli.js";
import type { DaemonProcess } from "../helpers/daemon.js";
import { usePiSuite } from "../helpers/pi-suite.js";
import { waitFor } from "../helpers/wait.js";

const suite = usePiSuite({ flushEach: true, token: "ownership-test-token-0123456789abcdef", env: () => ({ GATEWAY_PRESENCE_TTL: "3s" }) });

/** The daemons' env, also that of the one run through the CLI. */
const env = () => suite.env();
const daemon = (args: string[] = []) => suite.daemon({}, args);

async function owner(): Promise<{ pid: number; kind: string }> {
  const info = await waitFor(async () => (await suite.bus.sessions()).find((s) => s.id === "gateway" && s.live), "gateway owned");
  return { pid: info.pid!, kind: info.kind! };
}

describe("pi-gateway daemon and the session id lease", () => {
  test("a second daemon on a held id exits 1 within 5 s, with one line naming the holder and the ways out", async () => {
    const first = await daemon();
    const holder = await owner();
    assert.equal(holder.kind, "daemon");
    assert.equal(holder.pid, first.child.pid);

    const started = Date.now();
    // At the default log level: the refusal must still be the only line.
    const second = await runCli(["daemon", "--port", "0", "--cwd", suite.piEnv.cwd], { env: { ...env(), GATEWAY_LOG_LEVEL: "info" }, timeoutMs: 15_000 });
    const elapsed = Date.now() - started;
    assert.equal(second.code, 1, second.stderr);
    assert.ok(elapsed < 5_000, `refused within 5 s (took ${elapsed} ms)`);
    const lines = second.stderr.trim().split("\n");
    assert.equal(lines.length, 1, `one line: ${second.stderr}`);
    assert.match(
      lines[0]!,
      new RegExp(
        `^pi-gateway: session id "gateway" is held by daemon pid ${holder.pid} on ${hostname()}, since \\d\\d:\\d\\d; stop it, set another GATEWAY_ID, or run pi-gateway daemon --takeover$`,
      ),
    );
    assert.doesNotMatch(second.stdout, /listening/);

    // The first one still owns the id and drains it.
    assert.equal((await owner()).pid, first.child.pid);
    const seq = suite.llm.requests.length;
    await suite.bus.push(createEvent("still.first", "test", {}, { id: "still-first" }));
    await suite.llm.waitForRequest((r) => r.seq >= seq && r.lastUserText.includes("still-first"), 10_000);
  });

  test("--takeover: the new daemon owns the id, the old one stops draining and exits 1 saying so", async () => {
    const first = await daemon();
    await owner();
    const second = await daemon(["--takeover"]);
    assert.equal((await owner()).pid, second.child.pid, "the id is the new daemon's");
    const exitCode = await waitFor(() => first.child.exitCode ?? undefined, "the displaced daemon exits", 20_000);
    assert.equal(exitCode, 1);
    assert.match(
      first.output(),
      new RegExp(
        `pi-gateway: session id "gateway" was taken over by daemon pid ${second.child.pid} on ${hostname()}, since \\d\\d:\\d\\d; this daemon stopped draining events and shuts down`,
      ),
    );

    const seq = suite.llm.requests.length;
    await suite.bus.push(createEvent("after.takeover", "test", {}, { id: "after-takeover" }));
    await suite.llm.waitForRequest((r) => r.seq >= seq && r.lastUserText.includes("after-takeover"), 10_000);
  });

  test("race: two daemons started at the same moment end with exactly one running", async () => {
    const results = await Promise.allSettled([daemon(), daemon()]);
    const winners = results.filter((r): r is PromiseFulfilledResult<DaemonProcess> => r.status === "fulfilled").map((r) => r.value);
    const losers = results.filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => String((r.reason as Error).message));
    assert.equal(winners.length, 1, `exactly one daemon runs: ${losers.join(" | ")}`);
    assert.equal(losers.length, 1);
    assert.match(losers[0]!, new RegExp(`exited with 1 before listening:[\\s\\S]*session id "gateway" is held by daemon pid ${winners[0]!.child.pid} `));
    assert.equal((await owner()).pid, winners[0]!.child.pid);
  });

  test("--takeover is documented in pi-gateway daemon --help", async () => {
    const help = await runCli(["daemon", "--help"]);
    assert.equal(help.code, 0);
    assert.match(
      help.stdout.replace(/\s+/g, " "),
      /--takeover take the session id \(\$GATEWAY_ID or gateway\) even while another daemon or central pi holds it/,
    );
  });
});
