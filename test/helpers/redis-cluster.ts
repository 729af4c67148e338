/**
 * A real Redis Cluster for tests: 3 primaries + 3 replicas, each a redis-server on free loopback
 * ports (never 6379) with its own temp dir, joined by `redis-cli --cluster create --cluster-replicas 1`.
 * Ready means `CLUSTER INFO` says cluster_state:ok on every node and every replica's link to its
 * primary is up (a replica that never synced would not stand in for its primary).
 *
 * No stray servers: each node runs under `setpriv --pdeathsig SIGKILL`, so the kernel kills it when
 * the test process dies whatever the cause (kill -9 included); an exit handler and stop() kill them
 * otherwise, and stop() removes the dirs.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { parseClusterNodes } from "../../src/bus/cluster-replicas.js";
import { freePort, waitForPing } from "./redis-server.js";
import { waitFor } from "./wait.js";

const run = promisify(execFile);
const PDEATHSIG = existsSync("/usr/bin/setpriv") ? ["/usr/bin/setpriv", "--pdeathsig", "SIGKILL", "--"] : [];

export interface ClusterNode {
  port: number;
  url: string;
  dir: string;
  pid(): number;
  alive(): boolean;
}

/** One line of CLUSTER NODES. */
export interface NodeView {
  id: string;
  port: number;
  flags: string[];
  /** The primary's id, for a replica. */
  primaryOf: string | undefined;
  /** Slot ranges as written ("0-5460"). */
  slots: string[];
}

export interface RedisCluster {
  nodes: ClusterNode[];
  /** Every node's URL: what a cluster client is given as seeds. */
  seeds: string[];
  /** The current primaries, in slot order (primary 0 serves slot 0). */
  primaries(): Promise<ClusterNode[]>;
  /** CLUSTER NODES as seen by a live node. */
  view(): Promise<NodeView[]>;
  /**
   * kill -9 of primary `n` (in slot order), then waits until its replica serves its slots and every
   * live node says cluster_state:ok. Returns both.
   */
  killPrimary(n: number, options?: KillOptions): Promise<{ killed: ClusterNode; promoted: ClusterNode; failoverMs: number }>;
  /** Starts a killed node again on its port and dir; resolves once it rejoined as a synced replica of whoever took over. */
  restart(node: ClusterNode): Promise<void>;
  /** kill -9 of every node at once: the whole cluster is down (dirs and nodes.conf kept). */
  killAll(): Promise<void>;
  /** Starts every killed node again on its port and dir and waits until the cluster is healthy. */
  restartAll(): Promise<void>;
  stop(): Promise<void>;
}

export interface KillOptions {
  /**
   * Called with the replica before the kill (e.g. to pause it: SIGSTOP) and again right after it (to
   * resume it: SIGCONT), so the replica can be made to miss the primary's last writes.
   */
  aroundKill?: (replica: ClusterNode, phase: "before" | "after") => Promise<void> | void;
}

export interface RedisClusterOptions {
  /** AOF with fsync on every write on every node. */
  aof?: boolean;
  /** cluster-node-timeout: how long a silent primary takes to be failed over (default 1500 ms). */
  nodeTimeoutMs?: number;
  /** Deadline for the cluster to come up / a failover to finish (default 30 s). */
  timeoutMs?: number;
  /** Replicas per primary (default 1): 0 makes a cluster of 3 primaries only, as `--cluster-replicas 0` does. */
  replicas?: 0 | 1;
}

export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const replicas = options.replicas ?? 1;
  const count = 3 * (1 + replicas);
  const ports = await distinctFreePorts(2 * count);
  const nodes = Array.from({ length: count }, (_, i) => makeNode(ports[i]!, ports[i + count]!, options));
  const killAll = () => nodes.forEach((node) => node.kill());
  process.on("exit", killAll);
  const stop = async () => {
    process.off("exit", killAll);
    await Promise.all(nodes.map((node) => node.stop()));
  };
  try {
    await Promise.all(nodes.map((node) => node.launch()));
    const addresses = nodes.map((node) => `127.0.0.1:${node.port}`);
    await run("redis-cli", ["--cluster", "create", ...addresses, "--cluster-replicas", String(replicas), "--cluster-yes"], { timeout: timeoutMs }).catch(
      (error: Error & { stdout?: string }) => {
        throw new Error(`redis-cli --cluster create failed: ${error.message}\n${error.stdout ?? ""}`);
      },
    );
    // `--cluster create` returns before every replica took its role: until then a node is a primary
    // without slots, and its "replica" link is trivially fine. Wait for the 3 replicas, each synced.
    await waitFor(
      async () => parseNodes(await command(nodes[0]!, "CLUSTER", "NODES")).filter((v) => v.flags.includes("slave") && v.primaryOf).length === 3 * replicas,
      `${3 * replicas} replicas in CLUSTER NODES`,
      timeoutMs,
      100,
    );
    await waitHealthy(nodes, timeoutMs);
  } catch (error) {
    await stop();
    throw error;
  }

  const live = () => nodes.filter((node) => node.alive());
  const view = async () => parseNodes(await command(live()[0]!, "CLUSTER", "NODES"));
  const byPort = (port: number) => nodes.find((node) => node.port === port)!;
  const primaryViews = async () =>
    (await view()).filter((v) => v.flags.includes("master") && !v.flags.includes("fail") && v.slots.length > 0).sort((a, b) => firstSlot(a) - firstSlot(b));

  return {
    nodes,
    seeds: nodes.map((node) => node.url),
    view,
    primaries: async () => (await primaryViews()).map((v) => byPort(v.port)),
    async killPrimary(n, options = {}) {
      const target = (await primaryViews())[n];
      if (!target) throw new Error(`no primary ${n}: the cluster has ${(await primaryViews()).length}`);
      const replica = (await view()).find((v) => v.primaryOf === target.id);
      if (!replica) throw new Error(`primary on port ${target.port} has no replica to fail over to`);
      const killed = byPort(target.port);
      await options.aroundKill?.(byPort(replica.port), "before");
      const started = Date.now();
      await killed.kill9();
      await options.aroundKill?.(byPort(replica.port), "after");
      await waitFor(
        async () => {
          const now = await view().catch(() => []);
          const promoted = now.find((v) => v.id === replica.id);
          return promoted?.flags.includes("master") && promoted.slots.join() === target.slots.join();
        },
        `the replica on port ${replica.port} to take over the slots ${target.slots.join()} of the killed primary on port ${target.port}`,
        timeoutMs,
        100,
      );
      await waitHealthy(live(), timeoutMs, false);
      return { killed, promoted: byPort(replica.port), failoverMs: Date.now() - started };
    },
    restart: async (node) => {
      await (node as Node).launch();
      // It comes back as the primary its nodes.conf remembers, and turns replica once the cluster
      // tells it who took over: until then "healthy" holds trivially. Wait for its synced link.
      await waitFor(
        async () => /master_link_status:up/.test(await command(node, "INFO", "replication").catch(() => "")),
        `the restarted node on port ${node.port} to sync as a replica`,
        timeoutMs,
        100,
      );
      await waitHealthy(live(), timeoutMs);
    },
    killAll: async () => {
      await Promise.all(nodes.map((node) => node.kill9()));
    },
    restartAll: async () => {
      await Promise.all(nodes.filter((node) => !node.alive()).map((node) => node.launch()));
      await waitHealthy(nodes, timeoutMs);
    },
    stop,
  };
}

interface Node extends ClusterNode {
  launch(): Promise<void>;
  kill(): void;
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

function makeNode(port: number, busPort: number, options: RedisClusterOptions): Node {
  const dir = mkdtempSync(join(tmpdir(), "pigw-cluster-"));
  let child: ChildProcess | undefined;
  const alive = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  const exited = () => new Promise<void>((resolve) => (alive() ? child!.once("exit", () => resolve()) : resolve()));
  const args = [
    ...["--port", String(port), "--cluster-port", String(busPort), "--bind", "127.0.0.1", "--dir", dir, "--logfile", join(dir, "redis.log")],
    ...["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", String(options.nodeTimeoutMs ?? 1_500)],
    // Any replica may take over, however long ago it last heard from its primary.
    ...["--cluster-replica-validity-factor", "0", "--save", ""],
    // A replica that (re)joins syncs at once, not after the default 5 s wait for more replicas to join the same sync.
    ...["--repl-diskless-sync-delay", "0"],
    ...(options.aof ? ["--appendonly", "yes", "--appendfsync", "always"] : ["--appendonly", "no"]),
  ];
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    pid: () => child?.pid ?? -1,
    alive,
    async launch() {
      const [command, ...prefix] = [...PDEATHSIG, "redis-server"];
      child = spawn(command!, [...prefix, ...args], { stdio: "ignore" });
      child.on("error", () => undefined);
      await waitForPing(port, 10_000);
    },
    kill: () => void (alive() && child!.kill("SIGKILL")),
    async kill9() {
      const done = exited();
      if (alive()) child!.kill("SIGKILL");
      await done;
    },
    async stop() {
      await this.kill9();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Every node says cluster_state:ok and (when `replicasSynced`) every replica's link is up. */
async function waitHealthy(nodes: ClusterNode[], timeoutMs: number, replicasSynced = true): Promise<void> {
  const healthy = async (node: ClusterNode) => {
    const info = await command(node, "CLUSTER", "INFO");
    if (!info.includes("cluster_state:ok")) return false;
    if (!replicasSynced) return true;
    const replication = await command(node, "INFO", "replication");
    return !replication.includes("role:slave") || replication.includes("master_link_status:up");
  };
  await waitFor(
    async () => (await Promise.all(nodes.map((node) => healthy(node).catch(() => false)))).every(Boolean),
    `cluster_state:ok on the nodes ${nodes.map((node) => node.port).join(", ")}`,
    timeoutMs,
    100,
  );
}

/** One command on one node, on a connection of its own (a failed node must not stall the others). */
async function command(node: ClusterNode, ...args: string[]): Promise<string> {
  const client = new Redis(node.port, "127.0.0.1", { lazyConnect: true, connectTimeout: 1_000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on("error", () => undefined);
  try {
    await client.connect();
    return String(await client.call(args[0]!, ...args.slice(1)));
  } finally {
    client.disconnect();
  }
}

/** CLUSTER NODES as the tests look at it: the gateway's own parser (src/bus/cluster-replicas.ts), by port. */
export function parseNodes(text: string): NodeView[] {
  return parseClusterNodes(text).map((node) => ({
    id: node.id,
    port: Number(/:(\d+)$/.exec(node.address)?.[1]),
    flags: node.flags,
    primaryOf: node.primaryId === "-" ? undefined : node.primaryId,
    slots: node.slots,
  }));
}

function firstSlot(view: NodeView): number {
  return Math.min(...view.slots.map((range) => Number(range.split("-")[0])));
}

async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}
