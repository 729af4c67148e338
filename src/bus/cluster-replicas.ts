/**
 * Whether a Redis Cluster can acknowledge anything at all under GATEWAY_CLUSTER_WAIT_REPLICAS
 * (docs/cluster.md §5): every acknowledged write waits for that many replicas of its primary, so a
 * primary with fewer replicas than that answers every push, claim and ack with NOT_ACKNOWLEDGED,
 * retried until the producer gives up (30 s by default). Found once at connect and said in one line
 * with both fixes, instead of a 30-second wait that ends in "a failover under way".
 *
 * Not while a failover is under way (a node flagged `fail`): the promoted replica has no replica of
 * its own until the old primary rejoins, which the retries wait for.
 */
import type { Cluster } from "ioredis";
import { ClusterReplicasError } from "./errors.js";

export interface ClusterNodeLine {
  id: string;
  /** `ip:port`. */
  address: string;
  flags: string[];
  /** The primary's id for a replica, `-` for a primary. */
  primaryId: string;
  /** Slot ranges served, as written ("0-5460"); a slot being migrated (`[93->-id]`) is not one. */
  slots: string[];
}

/** `CLUSTER NODES`, one line a node: `<id> <ip:port@cport> <flags> <primary id|-> <ping> <pong> <epoch> <link> <slot>...`. */
export function parseClusterNodes(text: string): ClusterNodeLine[] {
  return text
    .split("\n")
    .map((line) => line.trim().split(" "))
    .filter((fields) => fields.length >= 8)
    .map(([id = "", address = "", flags = "", primaryId = "", , , , , ...slots]) => ({
      id,
      address: address.split("@")[0]!,
      flags: flags.split(","),
      primaryId,
      slots: slots.filter((slot) => !slot.startsWith("[")),
    }));
}

/** The primaries serving slots with fewer than `wanted` replicas; none while any node is failing. */
export function primariesShortOfReplicas(nodes: ClusterNodeLine[], wanted: number): Array<{ address: string; replicas: number; slots: string }> {
  if (nodes.some((node) => node.flags.includes("fail") || node.flags.includes("fail?"))) return [];
  return nodes
    .filter((node) => node.flags.includes("master") && node.slots.length > 0)
    .map((primary) => ({
      address: primary.address,
      replicas: nodes.filter((node) => node.primaryId === primary.id && (node.flags.includes("slave") || node.flags.includes("replica"))).length,
      slots: primary.slots.join(","),
    }))
    .filter((primary) => primary.replicas < wanted);
}

type ShortPrimary = ReturnType<typeof primariesShortOfReplicas>[number];

/**
 * The primaries of `short` that say so themselves. One node's view of the others comes by gossip and
 * lags (right after `--cluster create`, a node may not know yet which nodes became replicas), while a
 * primary knows its own replicas: each is asked (`ownView`), and one that cannot be asked is not held
 * against the cluster (the retries then speak for it).
 */
export async function confirmedShort(
  short: ShortPrimary[],
  wanted: number,
  ownView: (address: string) => Promise<ClusterNodeLine[] | undefined>,
): Promise<ShortPrimary[]> {
  const confirmed = await Promise.all(
    short.map(async (primary) => {
      const own = await ownView(primary.address).catch(() => undefined);
      return own && primariesShortOfReplicas(own, wanted).find((p) => p.address === primary.address);
    }),
  );
  return confirmed.filter((primary): primary is ShortPrimary => primary !== undefined);
}

/** Throws ClusterReplicasError when some primary can never acknowledge a write (see above). */
export async function checkClusterReplicas(client: Cluster, wanted: number): Promise<void> {
  if (wanted <= 0) return;
  const view = async (node: { cluster(subcommand: "NODES"): Promise<unknown> }) => parseClusterNodes(String(await node.cluster("NODES")));
  const short = await confirmedShort(primariesShortOfReplicas(await view(client), wanted), wanted, async (address) => {
    const node = client.nodes("master").find((n) => `${n.options.host}:${n.options.port}` === address);
    return node && view(node);
  });
  if (!short.length) return;
  const counted = (n: number) => (n === 0 ? "no replica" : `${n} replica${n === 1 ? "" : "s"}`);
  const which =
    short.length === 1
      ? `the primary ${short[0]!.address} (slots ${short[0]!.slots}) has ${counted(short[0]!.replicas)}`
      : `${short.length} primaries (${short.map((p) => p.address).join(", ")}) have ${short.every((p) => p.replicas === 0) ? "no replica" : `fewer than ${wanted} replicas`}`;
  const fewest = Math.min(...short.map((p) => p.replicas));
  throw new ClusterReplicasError(
    `Redis Cluster: ${which}, and GATEWAY_CLUSTER_WAIT_REPLICAS=${wanted} makes every push, claim and ack wait for ${counted(wanted)} to confirm it: nothing could ever be acknowledged`,
    `add ${wanted === 1 ? "a replica" : `${wanted} replicas`} to each primary (redis-cli --cluster add-node <new node> <any node> --cluster-slave), ` +
      `or set GATEWAY_CLUSTER_WAIT_REPLICAS=${fewest} (writes are then acknowledged ${fewest === 0 ? "without waiting for a replica" : `once ${counted(fewest)} confirm them`}: ` +
      "a failover may lose the last of them; with no replica there is no failover)",
  );
}
