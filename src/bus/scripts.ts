/**
 * The one loader of the bus's atomic operations. Each is a Lua script in ./commands, one file per
 * operation, named `<name>-<number of keys>.lua` (the BullMQ convention); the daemon's command
 * queue has its own `queue-` prefix. They are registered on a client with ioredis's defineCommand,
 * which runs them by SHA and reloads them after a Redis restart.
 *
 * An operation split into per-slot steps for a Redis Cluster (docs/cluster.md §3) keeps one script on
 * a single Redis: that script names its steps with `--@step <name>` lines, and the loader puts each
 * step's source there as a local Lua function `<name with _>(KEYS, ARGV)`, so the logic is written once
 * and a single Redis still runs it in one atomic round trip.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import type { RedisClient } from "./connection.js";
import { NotAcknowledgedError } from "./errors.js";

export const SCRIPT_NAMES = [
  "push",
  "push-route",
  "push-enqueue",
  "push-routed",
  "claim",
  "ack",
  "reject",
  "recover",
  "renew",
  "register",
  "register-session",
  "register-global",
  "lapsed-leases",
  "retire",
  "retire-session",
  "retire-global",
  "replied",
  "queue-enqueue",
  "queue-retry",
  "queue-deadletter",
  "queue-take",
  "advance",
  "notify",
  "notified",
  "pair-request",
  "pair-approve",
] as const;
export type ScriptName = (typeof SCRIPT_NAMES)[number];

type Arg = string | number;
export type ScriptRunner = Record<ScriptName, (keys: string[], args: Arg[]) => Promise<unknown>>;

const commandsDir = new URL("./commands/", import.meta.url);

/** `queue-enqueue-2.lua` → name `queue-enqueue`, 2 keys. */
export const SCRIPT_FILE = /^([a-z]+(?:-[a-z]+)*)-(\d+)\.lua$/;

interface ScriptSource {
  lua: string;
  numberOfKeys: number;
}

let cache: Map<ScriptName, ScriptSource> | undefined;

function loadSources(): Map<ScriptName, ScriptSource> {
  if (cache) return cache;
  const sources = new Map<ScriptName, ScriptSource>();
  for (const file of readdirSync(commandsDir)) {
    const match = SCRIPT_FILE.exec(file);
    if (!match) continue;
    const name = match[1] as ScriptName;
    if (!SCRIPT_NAMES.includes(name)) continue;
    sources.set(name, { lua: readFileSync(new URL(file, commandsDir), "utf8"), numberOfKeys: Number(match[2]) });
  }
  for (const name of SCRIPT_NAMES) {
    if (!sources.has(name)) throw new Error(`missing Lua script for "${name}" in ${commandsDir.pathname}`);
  }
  for (const source of sources.values()) source.lua = withSteps(source.lua, sources);
  cache = sources;
  return sources;
}

/**
 * Replaces each `--@step <name>` line by that step's source as a local function of (KEYS, ARGV): its
 * own KEYS and ARGV shadow the caller's, and its `return` is the function's answer.
 */
export function withSteps(lua: string, sources: ReadonlyMap<ScriptName, ScriptSource>): string {
  return lua.replace(/^--@step ([a-z-]+)$/gm, (_line, name: string) => {
    const step = sources.get(name as ScriptName);
    if (!step || /^--@step /m.test(step.lua)) throw new Error(`--@step ${name}: no such step script (or it has steps itself)`);
    return `local function ${name.replaceAll("-", "_")}(KEYS, ARGV)\n${step.lua}\nend`;
  });
}

/** The SHA1 Redis knows a script by once loaded (after its steps are composed): what SLOWLOG and INFO name. */
export function scriptSha(name: ScriptName): string {
  return createHash("sha1").update(loadSources().get(name)!.lua).digest("hex");
}

/**
 * The writes whose success tells someone "done" (docs/cluster.md §5): a producer "pushed" (each
 * target's enqueue and the routed step), a consumer's claim, ack and reject, the daemon queue's
 * enqueue ("accepted") and completion (queue-take). Each is idempotent for its ids, so a caller that
 * is told "not acknowledged" may run it again.
 */
export const ACKNOWLEDGING: ReadonlySet<ScriptName> = new Set<ScriptName>([
  "push-enqueue",
  "push-routed",
  "claim",
  "ack",
  "reject",
  "queue-enqueue",
  "queue-take",
]);

/** On a Redis Cluster: how many replicas must confirm an acknowledging write (WAIT), and for how long to wait. */
export interface Replication {
  replicas: number;
  timeoutMs: number;
}

/**
 * Registers every script on the client and returns typed callers that check the key count. With
 * `replication` (a cluster, GATEWAY_CLUSTER_WAIT_REPLICAS > 0) an acknowledging script is sent in one
 * pipeline with WAIT: WAIT names no key, so alone a cluster client sends it to any node, where it
 * proves nothing; in the script's pipeline it reaches the script's primary, right after the script.
 */
export function installScripts(client: RedisClient, replication?: Replication): ScriptRunner {
  const runner = {} as ScriptRunner;
  for (const [name, source] of loadSources()) {
    const command = `gw_${name.replaceAll("-", "_")}`;
    client.defineCommand(command, { lua: source.lua, numberOfKeys: source.numberOfKeys });
    const waited = replication && replication.replicas > 0 && ACKNOWLEDGING.has(name) ? replication : undefined;
    runner[name] = (keys, args) => {
      if (keys.length !== source.numberOfKeys) {
        throw new Error(`script ${name} takes ${source.numberOfKeys} keys, got ${keys.length}`);
      }
      if (waited) return replicated(client, command, name, [...keys, ...args], waited);
      const call = (client as unknown as Record<string, (...a: Arg[]) => Promise<unknown>>)[command]!;
      return call.call(client, ...keys, ...args);
    };
  }
  return runner;
}

/** A slot that moved (failover, resharding) or a cluster still settling: the script did not run there. */
const REDIRECTED = /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN) /;
/** Tries of a redirected acknowledging write, each after a slot map refresh (a failover settles within seconds). */
const REDIRECT_TRIES = 16;

/**
 * Runs a script and WAIT in one pipeline; the script's reply once enough replicas have it, else
 * NotAcknowledgedError. ioredis follows a MOVED in a cluster pipeline only when every command in it
 * was redirected, and WAIT (no key) is answered by whichever node got it: a pipeline sent on a stale
 * slot map after a failover comes back with the script MOVED and WAIT answered. The script did not
 * run, so it is sent again once the slot map is refreshed.
 */
async function replicated(client: RedisClient, command: string, name: ScriptName, argv: Arg[], { replicas, timeoutMs }: Replication): Promise<unknown> {
  for (let attempt = 1; ; attempt++) {
    const pipeline = client.pipeline();
    (pipeline as unknown as Record<string, (...a: Arg[]) => unknown>)[command]!.call(pipeline, ...argv);
    pipeline.wait(replicas, timeoutMs);
    const [[scriptError, reply] = [], [waitError, acknowledged] = []] = (await pipeline.exec()) ?? [];
    if (scriptError && REDIRECTED.test(scriptError.message) && attempt < REDIRECT_TRIES && "refreshSlotsCache" in client) {
      await new Promise<void>((resolve) => client.refreshSlotsCache(() => resolve()));
      await sleep(Math.min(50 * attempt, 500));
      continue;
    }
    if (scriptError) throw scriptError;
    if (waitError) throw waitError;
    if (Number(acknowledged) < replicas) throw new NotAcknowledgedError(name, Number(acknowledged), replicas, timeoutMs, reply);
    return reply;
  }
}
