/**
 * An event without an id (the seed's crontab line on a machine without `uuidgen` sends `"id":""`)
 * is not dead-lettered: the claim assigns it an id derived from its content, journals that, and
 * delivers it; an exact re-send is a duplicate, so it is still delivered once.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { test } from "node:test";
import type { GatewayBus } from "../../src/bus/bus.js";
import { runCli } from "../helpers/cli.js";
import type { RedisServer } from "../helpers/redis-server.js";
import { useRedisBus } from "../helpers/redis-bus.js";

const run = promisify(execFile);

let redis: RedisServer;
let bus: GatewayBus;
useRedisBus({ flushEach: true }, (r, b) => {
  redis = r;
  bus = b;
});

const autoId = (raw: string) => `auto-${createHash("sha1").update(raw).digest("hex")}`;

/** The seed's crontab command, verbatim but for the port, run by sh on a PATH without uuidgen. */
async function runSeedLineWithoutUuidgen(): Promise<void> {
  const bare = mkdtempSync(join(tmpdir(), "pigw-nouuid-"));
  mkdirSync(join(bare, "bin"));
  for (const tool of ["redis-cli", "date"]) {
    symlinkSync((await run("/bin/sh", ["-c", `command -v ${tool}`])).stdout.trim(), join(bare, "bin", tool));
  }
  const cli = `redis-cli -p ${redis.port}`;
  const seed = `${cli} LPUSH agent:events:main '{"id":"'$(uuidgen)'","type":"cron.heartbeat","source":"cron","payload":{},"ts":'$(date +%s000)'}' && ${cli} PUBLISH agent:notify:main '{"type":"cron.heartbeat"}'`;
  await run("/bin/sh", ["-c", seed], { env: { PATH: join(bare, "bin") } });
}

test('the seed\'s crontab line without uuidgen (\'"id":""\') is delivered under an id from its content, journaled, shown by tail', async () => {
  await runSeedLineWithoutUuidgen();
  const [raw] = await bus.client.lrange(bus.keys.events("main"), 0, -1);
  assert.match(raw!, /"id":""/, "the seed's line really sends an empty id here");
  const claimed = await bus.claim("main");
  assert.equal(claimed.deadLettered, 0);
  assert.equal(claimed.events.length, 1);
  const event = claimed.events[0]!;
  assert.equal(event.id, autoId(raw!));
  assert.equal(event.type, "cron.heartbeat");
  assert.equal(await bus.ack("main", [event.id]), 1, "acknowledged under the assigned id");
  assert.equal((await bus.deadLetters()).length, 0);

  const noted = (await bus.journal(10)).find((e) => e.kind === "id-assigned");
  assert.ok(noted, "an id-assigned journal entry");
  assert.equal(noted.id, event.id);
  assert.deepEqual(noted.sessions, ["main"]);
  assert.match(noted.reason ?? "", /no id: assigned one from its content/);
  const tail = await runCli(["tail", "-n", "10"], { env: { REDIS_URL: redis.url } });
  assert.equal(tail.code, 0, tail.stderr);
  assert.match(tail.stdout, new RegExp(`id-assigned +${event.id} -> main: the entry had no id: assigned one from its content`));
});

test("an exact re-send of an id-less entry is a duplicate (delivered once); a different one is delivered", async () => {
  const line = JSON.stringify({ type: "job.done", source: "sh", payload: { n: 1 }, ts: 1_700_000_000_000 });
  await bus.client.lpush(bus.keys.events("main"), line);
  const first = await bus.claim("main");
  assert.equal(first.events.length, 1);
  await bus.ack("main", [first.events[0]!.id]);
  await bus.client.lpush(bus.keys.events("main"), line, line.replace('"n":1', '"n":2'));
  const second = await bus.claim("main");
  assert.equal(second.duplicates, 1, "the exact re-send");
  assert.deepEqual(
    second.events.map((e) => e.payload),
    [{ n: 2 }],
  );
  assert.notEqual(second.events[0]!.id, first.events[0]!.id);
});

test("missing, empty and null ids are all assigned; the id survives a lease recovery; a non-string id is still dead-lettered with a reason", async () => {
  const base = { type: "t.x", source: "s", payload: {}, ts: 1 };
  const entries = [JSON.stringify(base), JSON.stringify({ ...base, id: "", ts: 2 }), JSON.stringify({ ...base, id: null, ts: 3 })];
  await bus.client.lpush(bus.keys.events("q"), ...entries, JSON.stringify({ ...base, id: 42 }));
  const claimed = await bus.claim("q");
  assert.deepEqual(
    claimed.events.map((e) => e.id),
    entries.map(autoId),
  );
  assert.equal(claimed.deadLettered, 1);
  assert.equal((await bus.deadLetters())[0]!.reason, "id: must be a string, the entry has a number");

  assert.equal(await bus.recoverAll("q"), 3);
  const again = await bus.claim("q");
  assert.deepEqual(
    again.events.map((e) => e.id),
    entries.map(autoId),
    "claimed again under the same ids",
  );
  assert.equal(await bus.ack("q", entries.map(autoId)), 3);
});
