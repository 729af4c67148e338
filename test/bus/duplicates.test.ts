/**
 * Nothing silent: an entry whose id was already delivered (the seed's verification line run twice
 * with plain redis-cli) is dropped, and says so in the journal and in `pi-gateway tail`.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { GatewayBus } from "../../src/bus/bus.js";
import { runCli } from "../helpers/cli.js";
import type { RedisServer } from "../helpers/redis-server.js";
import { useRedisBus } from "../helpers/redis-bus.js";

let redis: RedisServer;
let bus: GatewayBus;
useRedisBus({ flushEach: true }, (r, b) => {
  redis = r;
  bus = b;
});

const SEED_LINE = '{"id":"test","type":"test","source":"manual","payload":{},"ts":0}';

test("a raw LPUSH re-using a delivered id is journaled as a duplicate and shown by tail", async () => {
  await bus.client.lpush(bus.keys.events("main"), SEED_LINE);
  const first = await bus.claim("main");
  assert.deepEqual(first.events.map((e) => e.id), ["test"]);
  await bus.ack("main", ["test"]);

  await bus.client.lpush(bus.keys.events("main"), SEED_LINE); // the same line, run again
  const second = await bus.claim("main");
  assert.equal(second.events.length, 0, "not delivered again");
  assert.equal(second.duplicates, 1);
  const duplicate = (await bus.journal(10)).find((e) => e.kind === "duplicate");
  assert.ok(duplicate, "a duplicate entry in the journal");
  assert.equal(duplicate.id, "test");
  assert.equal(duplicate.reason, "already delivered");
  assert.deepEqual(duplicate.sessions, ["main"]);

  const tail = await runCli(["tail", "-n", "10"], { env: { REDIS_URL: redis.url } });
  assert.equal(tail.code, 0, tail.stderr);
  assert.match(tail.stdout, /duplicate +test -> main: already delivered, not delivered again/);
});

test("an id claimed twice while its first copy is in flight is journaled as 'already in flight'", async () => {
  await bus.client.lpush(bus.keys.events("s1"), SEED_LINE, SEED_LINE);
  const claimed = await bus.claim("s1");
  assert.equal(claimed.events.length, 1);
  assert.equal(claimed.duplicates, 1);
  const duplicate = (await bus.journal(10)).find((e) => e.kind === "duplicate");
  assert.equal(duplicate?.reason, "already in flight");
});
