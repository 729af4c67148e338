/**
 * The one loader of the bus's atomic operations. Each is a Lua script in ./commands, one file per
 * operation, named `<name>-<number of keys>.lua` (the BullMQ convention); the daemon's command
 * queue has its own `queue-` prefix. They are registered on a client with ioredis's defineCommand,
 * which runs them by SHA and reloads them after a Redis restart.
 */
import { readdirSync, readFileSync } from "node:fs";
import type { RedisClient } from "./connection.js";

export const SCRIPT_NAMES = [
  "push",
  "claim",
  "ack",
  "reject",
  "recover",
  "renew",
  "register",
  "retire",
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
  cache = sources;
  return sources;
}

/** Registers every script on the client and returns typed callers that check the key count. */
export function installScripts(client: RedisClient): ScriptRunner {
  const runner = {} as ScriptRunner;
  for (const [name, source] of loadSources()) {
    const command = `gw_${name.replaceAll("-", "_")}`;
    client.defineCommand(command, { lua: source.lua, numberOfKeys: source.numberOfKeys });
    runner[name] = (keys, args) => {
      if (keys.length !== source.numberOfKeys) {
        throw new Error(`script ${name} takes ${source.numberOfKeys} keys, got ${keys.length}`);
      }
      const call = (client as unknown as Record<string, (...a: Arg[]) => Promise<unknown>>)[command]!;
      return call.call(client, ...keys, ...args);
    };
  }
  return runner;
}
