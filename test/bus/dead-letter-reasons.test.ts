/**
 * Every producer of dead letters writes a reason a person can read (a sentence, never `[]`, `{}` or
 * nothing), `pi-gateway dead-letters` prints it with the event's id when there is one, and each
 * dead letter has a `dead-letter` journal entry (`pi-gateway tail`).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { GatewayBus } from "../../src/bus/bus.js";
import { CommandQueue } from "../../src/daemon/command-queue.js";
import { createEvent } from "../../src/protocol/event.js";
import { runCli } from "../helpers/cli.js";
import type { RedisServer } from "../helpers/redis-server.js";
import { useRedisBus } from "../helpers/redis-bus.js";

let redis: RedisServer;
let bus: GatewayBus;
useRedisBus({ flushEach: true }, (r, b) => {
  redis = r;
  bus = b;
});

const event = (id: string, extra: Record<string, unknown> = {}) => JSON.stringify({ id, type: "t.x", source: "s", payload: {}, ts: 1, ...extra });
/** A reason that reads as words: starts with a letter, says something, is not a bare JSON value. */
const SENTENCE = /^[A-Za-z][^\n]{15,}$/;

async function deadLetterEveryWay(): Promise<Map<string, string>> {
  const expected = new Map<string, string>();
  const small = new GatewayBus(bus.client, { ...bus.options, maxEventBytes: 200, backlogCap: 1 });
  // Claim path: not JSON, not an object, schema failure, oversized, id not UTF-8.
  await bus.client.lpush(bus.keys.events("q"), "not json", "[]", event("bad-ts", { ts: "soon" }), event("big", { payload: "y".repeat(300) }));
  await bus.client.lpush(bus.keys.events("q"), Buffer.from('{"id":"\xff","type":"t.x","source":"s","payload":{},"ts":1}', "latin1"));
  await small.claim("q");
  expected.set("not json", "not JSON: ");
  expected.set("[]", "not a JSON object: the entry is an array");
  expected.set("bad-ts", "ts: Invalid input: expected number, received string");
  expected.set("big", "entry is 358 bytes, over the 200-byte limit (GATEWAY_MAX_EVENT_BYTES)");
  expected.set("utf8", "id: not valid UTF-8");
  // Backlog overflow at push time.
  await small.push(createEvent("t.x", "s", {}, { id: "old" }));
  await small.push(createEvent("t.x", "s", {}, { id: "new" }));
  expected.set("old", "backlog cap of 1 exceeded (GATEWAY_BACKLOG_CAP): the oldest pending event of main was moved here");
  // A satellite that died with an event pending is reaped.
  await bus.register({ id: "pid-1", role: "satellite", durable: false, instance: "a" });
  await bus.push(createEvent("t.x", "s", {}, { id: "orphan" }), { target: "pid-1" });
  await bus.client.zadd(bus.keys.presence, 1, "pid-1");
  await bus.reapExpired();
  expected.set("orphan", "session pid-1 died before delivery: its presence lapsed");
  // A daemon turn that failed: the daemon dead-letters the command with the error.
  const queue = new CommandQueue(bus.commandQueue("gateway"), { agingMs: 60_000, collectWindowMs: 0 });
  await queue.init();
  await queue.submit({ id: "prompt-1", channel: "websocket", replyTo: { channel: "websocket", to: "c1" }, priority: "human", text: "hi" });
  const command = await queue.take();
  await queue.deadLetter(command!, "turn failed: 400 Invalid value for 'messages'");
  expected.set("prompt-1", "turn failed: 400 Invalid value for 'messages'");
  return expected;
}

test("every producer of dead letters writes a sentence; dead-letters prints it; tail shows each", async () => {
  const expected = await deadLetterEveryWay();
  const letters = await bus.deadLetters(100);
  assert.equal(letters.length, expected.size, JSON.stringify(letters, null, 1));
  for (const letter of letters) assert.match(letter.reason, SENTENCE, `a sentence: ${JSON.stringify(letter)}`);
  const reasonOf = (key: string) =>
    letters.find((l) => l.id === key || l.raw === key || l.raw.includes(`"id":"${key}"`) || (key === "utf8" && l.raw.includes('"id":"\ufffd"')))?.reason ??
    "(missing)";
  for (const [key, reason] of expected) assert.ok(reasonOf(key).startsWith(reason), `${key}: ${reasonOf(key)} should start with ${reason}`);

  const printed = await runCli(["dead-letters", "-n", "50"], { env: { REDIS_URL: redis.url } });
  assert.equal(printed.code, 0, printed.stderr);
  for (const letter of letters) assert.ok(printed.stdout.includes(letter.reason), `printed: ${letter.reason}`);
  assert.match(printed.stdout, /Z {2}pid-1 {2}orphan {2}session pid-1 died before delivery/, "the id is printed when known");
  assert.doesNotMatch(printed.stdout, /^\S+Z .* (\[\]|\{\}|undefined|null)$/m, "no reason prints as a bare JSON value");

  const journaled = (await bus.journal(100)).filter((e) => e.kind === "dead-letter");
  assert.deepEqual(journaled.map((e) => e.reason).sort(), letters.map((l) => l.reason).sort(), "each one journaled, with the same reason");
});

test("a dead letter written by hand or by another producer without a text reason still reads as a sentence", async () => {
  for (const reason of [[], {}, "", null]) {
    await bus.client.lpush(bus.keys.deadLetters, JSON.stringify({ reason, session: "main", raw: "x", at: 1 }));
  }
  await bus.client.lpush(bus.keys.deadLetters, "not json at all");
  const letters = await bus.deadLetters();
  assert.deepEqual(
    letters.map((l) => l.reason),
    ["unreadable dead-letter entry (not JSON); the raw entry is shown as is", ...Array(4).fill("no reason recorded with this dead letter")],
  );
  const printed = await runCli(["dead-letters", "--json"], { env: { REDIS_URL: redis.url } });
  const json = JSON.parse(printed.stdout) as { deadLetters: Array<{ reason: unknown }> };
  assert.ok(json.deadLetters.every((l) => typeof l.reason === "string" && SENTENCE.test(l.reason)));
});
