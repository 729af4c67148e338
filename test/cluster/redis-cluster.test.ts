/**
 * The cluster test helper itself (test/helpers/redis-cluster.ts): a real 3 + 3 cluster comes up, a
 * key written through ioredis's Cluster client is read back, kill -9 of a primary promotes its
 * replica and the client carries on, and stop() leaves no redis-server behind.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, before, test } from "node:test";
import { Cluster } from "ioredis";
import { processAlive } from "../../src/util/process.js";
import { startRedisCluster, type RedisCluster } from "../helpers/redis-cluster.js";

let cluster: RedisCluster;
let client: Cluster;

before(async () => {
  cluster = await startRedisCluster();
  client = new Cluster(cluster.seeds.map((url) => ({ host: "127.0.0.1", port: Number(new URL(url).port) })));
});
after(async () => {
  client?.disconnect();
  await cluster?.stop();
});

test("3 primaries and 3 replicas on loopback ports other than 6379, all slots served", async () => {
  const view = await cluster.view();
  assert.equal(view.length, 6);
  assert.equal(view.filter((v) => v.flags.includes("master")).length, 3);
  assert.equal(view.filter((v) => v.flags.includes("slave")).length, 3);
  assert.ok(cluster.nodes.every((node) => node.port !== 6379));
  assert.deepEqual((await cluster.view()).flatMap((v) => v.slots).sort(), ["0-5460", "10923-16383", "5461-10922"]);
});

test("a key written through the Cluster client is read back, from any slot", async () => {
  // Keys chosen to land on all three primaries.
  const keys = ["pigw:a", "pigw:b", "pigw:c", "pigw:d", "pigw:e", "pigw:f"];
  for (const key of keys) await client.set(key, `v-${key}`);
  for (const key of keys) assert.equal(await client.get(key), `v-${key}`);
  const slots = new Set(await Promise.all(keys.map(async (key) => Math.floor(Number(await client.cluster("KEYSLOT", key)) / 5461))));
  assert.equal(slots.size, 3, "the keys span the three primaries");
});

test("kill -9 of a primary: its replica takes over its slots, the data and the client survive", async () => {
  const [first] = await cluster.primaries();
  // A key on primary 0 (slots 0-5460), replicated before the kill.
  let key = "";
  for (let i = 0; !key; i++) if (Number(await client.cluster("KEYSLOT", `pigw:k${i}`)) <= 5460) key = `pigw:k${i}`;
  // WAIT has no key: alone, a cluster client sends it to any node. In a pipeline with the SET it
  // goes to the key's primary, which then answers once its replica has the write.
  const replies = (await client.pipeline().set(key, "before-failover").wait(1, 2_000).exec())!;
  assert.deepEqual(
    replies.map(([, reply]) => reply),
    ["OK", 1],
  );
  const { killed, promoted, failoverMs } = await cluster.killPrimary(0);
  console.log(`failover: primary on port ${killed.port} killed, replica on port ${promoted.port} took over in ${failoverMs} ms`);
  assert.equal(killed.port, first!.port);
  assert.equal(killed.alive(), false);
  assert.notEqual(promoted.port, killed.port);
  assert.equal((await cluster.primaries())[0]!.port, promoted.port);
  assert.equal(await client.get(key), "before-failover");
  await client.set(key, "after-failover");
  assert.equal(await client.get(key), "after-failover");
  await cluster.restart(killed);
  const back = (await cluster.view()).find((v) => v.port === killed.port)!;
  assert.ok(back.flags.includes("slave"), `the restarted node rejoins as a replica (flags ${back.flags.join()})`);
});

test("stop() leaves no redis-server behind and removes the dirs", async () => {
  const pids = cluster.nodes.map((node) => node.pid());
  await cluster.stop();
  assert.deepEqual(
    pids.filter((pid) => processAlive(pid)),
    [],
  );
  assert.ok(cluster.nodes.every((node) => !existsSync(node.dir)));
});
