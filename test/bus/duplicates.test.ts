/**
 * Nothing silent: an entry whose id was already delivered (the seed's verification line run twice
 * with plain redis-cli) is dropped, and says so in the journal and in `pi-gateway tail`; so does a
 * push of an id already pushed, and `pi-gateway status` counts them all. On a single Redis and on a
 * real Redis Cluster alike.
 */
import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";
import type { GatewayBus } from "../../src/bus/bus.js";
import { createHttpApp } from "../../src/channels/http/app.js";
import { runCli } from "../helpers/cli.js";
import { onSingleAndCluster, testUnless } from "../helpers/redis-bus.js";

const SEED_LINE = '{"id":"test","type":"test","source":"manual","payload":{},"ts":0}';

onSingleAndCluster({ flushEach: true }, (backend, cluster) => {
  let bus: GatewayBus;
  let redis: { url: string };
  beforeEach(() => {
    ({ bus } = backend());
    redis = { url: backend().url };
  });

  test("a raw LPUSH re-using a delivered id is journaled as a duplicate and shown by tail", async () => {
    await bus.client.lpush(bus.keys.events("main"), SEED_LINE);
    const first = await bus.claim("main");
    assert.deepEqual(
      first.events.map((e) => e.id),
      ["test"],
    );
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

  // A cluster journals in the queue's own slot, and the readers find a queue's records through the
  // registry, the letterboxes and `main` (src/bus/boxes.ts): a queue nobody registered (here `s1`) is not read.
  const unregisteredQueue = cluster && "a cluster's readers do not see the journal of a queue that was never registered (src/bus/boxes.ts)";
  testUnless(unregisteredQueue)("an id claimed twice while its first copy is in flight is journaled as 'already in flight'", async () => {
    await bus.client.lpush(bus.keys.events("s1"), SEED_LINE, SEED_LINE);
    const claimed = await bus.claim("s1");
    assert.equal(claimed.events.length, 1);
    assert.equal(claimed.duplicates, 1);
    const duplicate = (await bus.journal(10)).find((e) => e.kind === "duplicate");
    assert.equal(duplicate?.reason, "already in flight");
  });

  test("duplicates are counted: status (human, --json) and /api/status show how many ids were not delivered again", async () => {
    const env = { REDIS_URL: redis.url, GATEWAY_SESSION_ID: "" };
    const before = await runCli(["status", "--json"], { env });
    assert.equal((JSON.parse(before.stdout) as { duplicates: number }).duplicates, 0, "0 when nothing was ever counted");

    await bus.client.lpush(bus.keys.events("main"), SEED_LINE, SEED_LINE); // one claimed, one in flight already
    await bus.claim("main");
    assert.equal((await bus.status()).duplicates, 1);

    const json = await runCli(["status", "--json"], { env });
    assert.equal(json.code, 0, json.stderr);
    assert.equal((JSON.parse(json.stdout) as { duplicates: number }).duplicates, 1);
    const human = await runCli(["status"], { env });
    assert.match(human.stdout, /^duplicates +1 +\(ids seen before, not delivered again: pi-gateway tail --kind duplicate\)$/m);

    const app = createHttpApp({ bus, token: "t".repeat(24) });
    const api = (await (await app.request(`/api/status?token=${"t".repeat(24)}`)).json()) as { duplicates: number };
    assert.equal(api.duplicates, 1);
  });

  test("pi-gateway push of an id already pushed: the same sentence, --json duplicate: true, journaled and counted", async () => {
    const env = { REDIS_URL: redis.url, GATEWAY_SESSION_ID: "" };
    const pushedBefore = (await bus.status()).pushed;
    const first = await runCli(["push", "job.done", "--id", "job-1", "--json"], { env });
    assert.equal((JSON.parse(first.stdout) as { duplicate: boolean }).duplicate, false);
    const again = await runCli(["push", "job.done", "--id", "job-1", "--json"], { env });
    assert.equal(again.code, 0, again.stderr);
    const out = JSON.parse(again.stdout) as { status: string; duplicate: boolean; sessions: string[] };
    assert.equal(out.status, "duplicate");
    assert.equal(out.duplicate, true);
    assert.deepEqual(out.sessions, []);
    const human = await runCli(["push", "job.done", "--id", "job-1"], { env });
    assert.match(human.stdout, /^already pushed: event job-1 \(same id seen within the dedup window\), not delivered again$/m);
    assert.equal(human.stderr, "", "a duplicate queued nothing, so no waiting notice either");

    assert.equal(await bus.pending("main"), 1, "queued once");
    assert.equal((await bus.status()).duplicates, 2);
    assert.equal((await bus.status()).pushed, pushedBefore + 1, "pushed counts the accepted event once, not its duplicates");
    const entries = (await bus.journal(10)).filter((e) => e.kind === "duplicate");
    assert.deepEqual(
      entries.map((e) => [e.id, e.reason, e.type]),
      [
        ["job-1", "already pushed", "job.done"],
        ["job-1", "already pushed", "job.done"],
      ],
    );
    const tail = await runCli(["tail", "--kind", "duplicate"], { env });
    assert.match(tail.stdout, /duplicate +job-1: already pushed, not delivered again/);
  });
});
