/**
 * A Redis Cluster whose primaries have no replica (`redis-cli --cluster create … --cluster-replicas 0`,
 * a common way to shard without failover) can never confirm a write under the default
 * GATEWAY_CLUSTER_WAIT_REPLICAS=1. Before: a push waited its whole retry window (30 s) and ended
 * with "not acknowledged … a failover under way, or its replica down … not pushed", although the
 * event was queued. Now the gateway says so at connect, in one line with both fixes, and runs with
 * GATEWAY_CLUSTER_WAIT_REPLICAS=0.
 */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { GatewayBus } from "../../src/bus/bus.js";
import { confirmedShort, parseClusterNodes, primariesShortOfReplicas } from "../../src/bus/cluster-replicas.js";
import { ClusterReplicasError } from "../../src/bus/errors.js";
import { runCli } from "../helpers/cli.js";
import { startRedisCluster, type RedisCluster } from "../helpers/redis-cluster.js";

describe("a cluster of 3 primaries without replicas", () => {
  let cluster: RedisCluster;
  let env: Record<string, string>;
  before(async () => {
    cluster = await startRedisCluster({ replicas: 0 });
    env = { REDIS_URL: cluster.seeds[0]!, HOME: mkdtempSync(join(tmpdir(), "pigw-noreplica-")), GATEWAY_CLUSTER_WAIT_REPLICAS: "" };
  });
  after(() => cluster?.stop());

  test("connect refuses at once, naming the primaries and both fixes", async () => {
    const started = Date.now();
    await assert.rejects(GatewayBus.connect({ redisUrl: cluster.seeds[0]! }), (error: unknown) => {
      assert.ok(error instanceof ClusterReplicasError);
      assert.equal(error.code, "CLUSTER_REPLICAS");
      assert.match(error.summary, /^Redis Cluster: 3 primaries \(127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+\) have no replica/);
      assert.match(error.hint, /--cluster-slave.*GATEWAY_CLUSTER_WAIT_REPLICAS=0/);
      return true;
    });
    assert.ok(Date.now() - started < 3_000, `refused after ${Date.now() - started} ms`);
  });

  test("pi-gateway push says so in one line within seconds (not after its 30 s retry window)", async () => {
    const started = Date.now();
    const result = await runCli(["push", "test.noreplica", "--id", "nr-1"], { env });
    assert.equal(result.code, 1, result.stderr);
    assert.ok(Date.now() - started < 5_000, `exited after ${Date.now() - started} ms`);
    const lines = result.stderr.trim().split("\n");
    assert.equal(lines.length, 1, result.stderr);
    assert.match(
      lines[0]!,
      /^pi-gateway: Redis Cluster: 3 primaries .* have no replica, and GATEWAY_CLUSTER_WAIT_REPLICAS=1 .* nothing could ever be acknowledged: add a replica/,
    );
  });

  test("doctor's Redis check gives that fix, not 'start Redis'", async () => {
    const result = await runCli(["doctor", "--json"], { env, timeoutMs: 60_000 });
    const checks = (JSON.parse(result.stdout) as { checks: Array<{ id: string; status: string; detail: string; fix?: string }> }).checks;
    const redis = checks.find((c) => c.id === "redis")!;
    assert.equal(redis.status, "fail");
    assert.match(redis.detail, /have no replica/);
    assert.match(redis.fix ?? "", /^add a replica to each primary/);
  });

  test("with GATEWAY_CLUSTER_WAIT_REPLICAS=0 it runs: a push is queued and claimed once", async () => {
    const pushed = await runCli(["push", "test.noreplica", "--id", "nr-2"], { env: { ...env, GATEWAY_CLUSTER_WAIT_REPLICAS: "0" } });
    assert.equal(pushed.code, 0, pushed.stderr);
    const bus = await GatewayBus.connect({ redisUrl: cluster.seeds[0]!, clusterWaitReplicas: 0 });
    try {
      assert.deepEqual(
        (await bus.claim("main")).events.map((e) => e.id),
        ["nr-2"],
      );
    } finally {
      await bus.close();
    }
  });
});

// CLUSTER NODES lines as Redis 7 prints them (ids shortened).
const PRIMARY = (id: string, port: number, slots: string) => `${id} 127.0.0.1:${port}@${port + 10000} master - 0 1700000000000 1 connected ${slots}`;
const REPLICA = (id: string, port: number, of: string, flags = "slave") => `${id} 127.0.0.1:${port}@${port + 10000} ${flags} ${of} 0 1700000000000 1 connected`;

test("primariesShortOfReplicas: counts each serving primary's replicas; none while a failover is under way", () => {
  const healthy = [PRIMARY("a", 7001, "0-5460"), PRIMARY("b", 7002, "5461-10922"), PRIMARY("c", 7003, "10923-16383")];
  const withReplicas = [...healthy, REPLICA("d", 7004, "a"), REPLICA("e", 7005, "b"), REPLICA("f", 7006, "c")];
  assert.deepEqual(primariesShortOfReplicas(parseClusterNodes(withReplicas.join("\n")), 1), []);
  assert.deepEqual(
    primariesShortOfReplicas(parseClusterNodes(withReplicas.join("\n")), 2).map((p) => `${p.address} ${p.replicas} ${p.slots}`),
    ["127.0.0.1:7001 1 0-5460", "127.0.0.1:7002 1 5461-10922", "127.0.0.1:7003 1 10923-16383"],
  );
  assert.equal(primariesShortOfReplicas(parseClusterNodes(healthy.join("\n")), 1).length, 3);
  // One primary without: only it is named.
  assert.deepEqual(
    primariesShortOfReplicas(parseClusterNodes([...healthy, REPLICA("d", 7004, "a"), REPLICA("e", 7005, "b")].join("\n")), 1).map((p) => p.address),
    ["127.0.0.1:7003"],
  );
  // Right after a failover the promoted node has no replica yet, and the old primary is flagged `fail`: the retries wait for it.
  const failover = [PRIMARY("a", 7001, "0-5460"), PRIMARY("b", 7002, "5461-10922"), `c 127.0.0.1:7003@17003 master,fail - 0 0 1 disconnected`];
  assert.deepEqual(
    primariesShortOfReplicas(
      parseClusterNodes([...failover, PRIMARY("f", 7006, "10923-16383"), REPLICA("d", 7004, "a"), REPLICA("e", 7005, "b")].join("\n")),
      1,
    ),
    [],
  );
  // A replica that is down still counts: it is configured, and the retries wait for it.
  assert.deepEqual(
    primariesShortOfReplicas(
      parseClusterNodes([...healthy, REPLICA("d", 7004, "a"), REPLICA("e", 7005, "b"), REPLICA("f", 7006, "c", "slave,fail?")].join("\n")),
      1,
    ),
    [],
  );
  // A node that only has a slot being migrated into it (`[slot-<-id]`) serves none yet.
  assert.deepEqual(primariesShortOfReplicas(parseClusterNodes([...withReplicas, PRIMARY("g", 7007, "[93-<-a]")].join("\n")), 1), []);
  // Blank lines, a trailing newline, and `myself` flags are read as Redis writes them.
  assert.equal(parseClusterNodes(`\n${PRIMARY("a", 7001, "0-16383").replace("master", "myself,master")}\n\n`)[0]?.address, "127.0.0.1:7001");
  assert.deepEqual(parseClusterNodes(""), []);
});

test("confirmedShort: a node's lagging view is checked with each primary's own; one that cannot be asked is not held against the cluster", async () => {
  const primaries = [PRIMARY("a", 7001, "0-5460"), PRIMARY("b", 7002, "5461-10922"), PRIMARY("c", 7003, "10923-16383")];
  // Just after `--cluster create`: this node still sees the would-be replicas as primaries without slots.
  const lagging = parseClusterNodes([...primaries, PRIMARY("d", 7004, ""), PRIMARY("e", 7005, ""), PRIMARY("f", 7006, "")].join("\n"));
  const short = primariesShortOfReplicas(lagging, 1);
  assert.equal(short.length, 3, "the lagging view alone would refuse");
  const settled = parseClusterNodes([...primaries, REPLICA("d", 7004, "a"), REPLICA("e", 7005, "b"), REPLICA("f", 7006, "c")].join("\n"));
  assert.deepEqual(await confirmedShort(short, 1, async () => settled), [], "each primary knows its replica");
  assert.deepEqual(await confirmedShort(short, 1, async () => undefined), [], "not reachable: not refused");
  assert.deepEqual(
    await confirmedShort(short, 1, async () => {
      throw new Error("connection lost");
    }),
    [],
  );
  // Only 7003 really has none: only it is named.
  const cShort = parseClusterNodes([...primaries, REPLICA("d", 7004, "a"), REPLICA("e", 7005, "b")].join("\n"));
  assert.deepEqual(
    (await confirmedShort(short, 1, async () => cShort)).map((p) => p.address),
    ["127.0.0.1:7003"],
  );
});
