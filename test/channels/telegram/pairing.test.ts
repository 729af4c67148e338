// Pairing end to end against the fake Bot API and a private Redis: an unknown user gets one code and
// nothing of theirs reaches the agent; `pi-gateway pair approve` lets the next message through;
// revoke blocks again; expired, unknown and malformed codes are refused (exit 2); the pending cap holds.
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { GatewayBus } from "../../../src/bus/bus.js";
import { PAIRING_ALPHABET } from "../../../src/bus/pairing.js";
import { runCli } from "../../helpers/cli.js";
import { useRedisBus } from "../../helpers/redis-bus.js";
import { waitFor } from "../../helpers/wait.js";
import { OWNER, startHarness, waitConfirmed } from "./harness.js";

let bus: GatewayBus;
let env: Record<string, string>;
useRedisBus({ flushEach: true }, (r, b) => {
  bus = b;
  env = { REDIS_URL: r.url, GATEWAY_SESSION_ID: "", GATEWAY_ENV_FILE: "none", HOME: mkdtempSync(join(tmpdir(), "pigw-pair-")) };
});

const LIMITS = { ttlMs: 3_600_000, maxPending: 20 };
const STRANGER = { chatId: 5550001, userId: 5550001, username: "stranger" };
const codeIn = (text: string | undefined): string => new RegExp(`code: ([${PAIRING_ALPHABET}]{8})`).exec(text ?? "")?.[1] ?? assert.fail(`no code in ${text}`);

function pairingHarness(limits = LIMITS) {
  return startHarness({ pairing: { store: () => bus.pairing, limits } });
}

describe("Telegram pairing", () => {
  test("unknown user → one code, nothing reaches the agent; pair approve (CLI) → next message does; revoke → blocked again", async () => {
    const h = await pairingHarness();
    try {
      const first = h.fake.injectMessage({ ...STRANGER, text: "hello, let me in" });
      await waitConfirmed(h.fake, first);
      const texts = () => h.fake.messagesIn(STRANGER.chatId);
      assert.equal(texts().length, 1);
      const code = codeIn(texts()[0]);
      assert.match(texts()[0]!, /pi-gateway pair approve/);
      // Asking again while the code lives: no second code, no answer at all, still nothing submitted.
      const again = h.fake.injectMessage({ ...STRANGER, text: "/status" });
      await waitConfirmed(h.fake, again);
      assert.equal(texts().length, 1);
      assert.equal(h.submits.length, 0, "nothing submitted");
      assert.deepEqual(h.controlCalls, []);

      const list = await runCli(["pair", "list", "--json"], { env });
      assert.equal(list.code, 0, list.stderr);
      const listed = JSON.parse(list.stdout) as { requests: Array<{ code: string; userId: string; username: string }> };
      assert.deepEqual(
        listed.requests.map((r) => [r.code, r.userId, r.username]),
        [[code, String(STRANGER.userId), "stranger"]],
      );
      const human = await runCli(["pair", "list"], { env });
      assert.match(human.stdout, new RegExp(`${code}\\s+${STRANGER.userId}\\s+@stranger`));

      // Lower case with a dash, as a person might type it.
      const approve = await runCli(["pair", "approve", `${code.slice(0, 4).toLowerCase()}-${code.slice(4)}`], { env });
      assert.equal(approve.code, 0, approve.stderr);
      assert.match(approve.stdout, new RegExp(`paired Telegram user ${STRANGER.userId}`));
      // One-time: the same code again is refused.
      const reuse = await runCli(["pair", "approve", code], { env });
      assert.equal(reuse.code, 2);
      assert.match(reuse.stderr, /no pairing request with code/);

      h.fake.injectMessage({ ...STRANGER, text: "now paired" });
      await waitFor(() => h.submits.length === 1, "the paired user's message");
      assert.equal(h.submits[0]!.text, "now paired");
      assert.equal(h.submits[0]!.replyTo?.to, String(STRANGER.chatId));

      const revoke = await runCli(["pair", "revoke", String(STRANGER.userId)], { env });
      assert.equal(revoke.code, 0, revoke.stderr);
      const blocked = h.fake.injectMessage({ ...STRANGER, text: "after revoke" });
      await waitConfirmed(h.fake, blocked);
      assert.equal(h.submits.length, 1, "blocked again");
      assert.equal(texts().length, 2, "a revoked user who writes again gets a new code");
      assert.notEqual(codeIn(texts()[1]), code);
      const notPaired = await runCli(["pair", "revoke", String(STRANGER.userId)], { env });
      assert.equal(notPaired.code, 1);
      assert.equal((await runCli(["pair", "revoke", "12; DROP"], { env })).code, 2);
      // The allowlisted owner is not affected by any of this.
      h.fake.injectMessage({ chatId: OWNER.chatId, userId: OWNER.userId, text: "owner" });
      await waitFor(() => h.submits.length === 2, "the owner's message");
    } finally {
      await h.stop();
    }
  });

  test("an expired code is refused with its own message (exit 2), unknown and malformed codes too; the user gets a fresh code later", async () => {
    const past = Date.now() - 2 * LIMITS.ttlMs;
    const asked = await bus.pairing.request({ userId: "777" }, LIMITS, past);
    assert.equal(asked.status, "issued");
    const code = asked.status === "issued" ? asked.code : "";
    // Still stored (nobody has asked since), but expired.
    const expired = await runCli(["pair", "approve", code], { env });
    assert.equal(expired.code, 2);
    assert.match(expired.stderr, /has expired/);
    assert.equal(await bus.pairing.isApproved(777), false);
    const unknown = await runCli(["pair", "approve", "ABCDEFGH"], { env });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no pairing request with code ABCDEFGH/);
    for (const bad of ["", "short", "ABCDEFG0", "ABCDEFGHI", "../../x"]) {
      const result = await runCli(["pair", "approve", bad], { env });
      assert.equal(result.code, 2, `"${bad}" → ${result.stderr}`);
      assert.match(result.stderr, bad ? /is not a pairing code/ : /is not a pairing code|missing/);
    }
    // An expired code never blocks a new one.
    const old = await bus.pairing.request({ userId: "778" }, LIMITS, past);
    const fresh = await bus.pairing.request({ userId: "778" }, LIMITS);
    assert.equal(fresh.status, "issued");
    assert.notEqual(fresh.status === "issued" && fresh.code, old.status === "issued" && old.code);
  });

  test("issuing is atomic: concurrent asks of one user give one code; concurrent strangers never exceed the cap", async () => {
    const asks = await Promise.all(Array.from({ length: 10 }, () => bus.pairing.request({ userId: "900" }, LIMITS)));
    const issued = asks.filter((a) => a.status === "issued");
    assert.equal(issued.length, 1);
    const code = issued[0]?.status === "issued" ? issued[0].code : "";
    assert.ok(asks.every((a) => a.status === "issued" || (a.status === "pending" && a.code === code)));
    const many = await Promise.all(
      Array.from({ length: 30 }, (_, i) => bus.pairing.request({ userId: String(1000 + i) }, { ttlMs: LIMITS.ttlMs, maxPending: 20 })),
    );
    assert.equal(many.filter((a) => a.status === "issued").length, 19, "20 waiting in all, one of them user 900's");
    assert.equal(many.filter((a) => a.status === "full").length, 11);
    assert.equal((await bus.pairing.list()).requests.length, 20);
  });

  test("at most GATEWAY_PAIRING_MAX requests wait: the next stranger is told once to try later; groups never get codes", async () => {
    const h = await pairingHarness({ ttlMs: 3_600_000, maxPending: 1 });
    try {
      const a = h.fake.injectMessage({ chatId: 6001, userId: 6001, text: "a" });
      const b1 = h.fake.injectMessage({ chatId: 6002, userId: 6002, text: "b" });
      const b2 = h.fake.injectMessage({ chatId: 6002, userId: 6002, text: "b again" });
      const group = h.fake.injectMessage({ chatId: -100777, userId: 6003, text: "in a group" });
      await waitConfirmed(h.fake, Math.max(a, b1, b2, group));
      assert.equal(h.fake.messagesIn(6001).length, 1);
      assert.deepEqual(h.fake.messagesIn(6002), ["🔐 This bot is private and too many pairing requests are waiting; please try again later."]);
      assert.deepEqual(h.fake.callsTo(-100777), [], "nothing said in the group");
      assert.equal(h.submits.length, 0, "nothing submitted");
      assert.equal((await bus.pairing.list()).requests.length, 1);
      assert.ok(h.logs.some((e) => e.level === "warn" && /pairing requests are full/.test(e.msg)));
    } finally {
      await h.stop();
    }
  });
});
