/**
 * The bus owns Redis (issue #14): no module outside src/bus imports ioredis, reads a bus's raw
 * client or makes one of its own; every Lua script lives in src/bus/commands, named
 * `<op>-<numkeys>.lua`, and is loaded by the one loader (src/bus/scripts.ts).
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { test } from "node:test";
import { SCRIPT_FILE, SCRIPT_NAMES } from "../../src/bus/scripts.js";

const root = new URL("../..", import.meta.url).pathname;
const SKIP_DIRS = new Set(["node_modules", "dist", ".git", "coverage", ".tmp"]);

function filesUnder(dir: string, keep: (name: string) => boolean): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (!SKIP_DIRS.has(name)) found.push(...filesUnder(path, keep));
    } else if (keep(name)) found.push(relative(root, path).split(sep).join("/"));
  }
  return found.sort();
}

/** Registering or running a script, or naming a .lua file in a string (a comment may mention one). */
const LOADS_LUA = /defineCommand|\.(?:eval|evalsha)\s*\(|["'][^"'\n]*\.lua["']/i;

/** What a source file outside src/bus must not do, each with the pattern that finds it. */
const FORBIDDEN: Array<[what: string, pattern: RegExp]> = [
  ["imports ioredis", /ioredis/],
  ["reads a bus's raw client", /bus\??\.client\b/i],
  ["takes a bus's raw client apart", /\{[^}]*\bclient\b[^}]*\}\s*=\s*[\w.?]*bus\b/i],
  ["opens a raw client", /\b(?:createClient|connectClient|duplicateClient)\b/],
  ["wraps a raw client in a bus", /new\s+GatewayBus\s*\(/],
  ["loads Lua itself", LOADS_LUA],
];

function violations(text: string): string[] {
  return FORBIDDEN.filter(([, pattern]) => pattern.test(text)).map(([what]) => what);
}

test("the boundary check itself catches each way around the bus", () => {
  const hostile: Array<[string, string]> = [
    ['import { Redis } from "ioredis";', "imports ioredis"],
    ['const { Redis } = await import("ioredis");', "imports ioredis"],
    ["await this.bus.client.hset(key, 'a', 1);", "reads a bus's raw client"],
    ["options.bus?.client.status", "reads a bus's raw client"],
    ["const { client } = this.bus;", "takes a bus's raw client apart"],
    ["const { keys, client: raw } = bus;", "takes a bus's raw client apart"],
    ['const reader = bus.duplicateClient("x");', "opens a raw client"],
    ['import { createClient } from "../bus/connection.js";', "opens a raw client"],
    ["const b = new GatewayBus(client, options);", "wraps a raw client in a bus"],
    ['client.defineCommand("gw_x", { lua, numberOfKeys: 1 });', "loads Lua itself"],
    ['readFileSync(new URL("./commands/x-1.lua", import.meta.url))', "loads Lua itself"],
    ["await redis.eval(script, 1, key);", "loads Lua itself"],
  ];
  for (const [line, what] of hostile) assert.ok(violations(line).includes(what), `${what} not caught in: ${line}`);
  // Named operations and the words that merely look alike are fine.
  for (const line of [
    "await bus.recordWatchdog(sid, 'armed', 1000);",
    "const q = bus.commandQueue('gateway');",
    "const ws = new WebSocket(url); ws.clientId",
    "if (bus.isReady) bus.disconnect();",
    "this.telegram.client",
    "// the lease check is in claim-8.lua",
  ]) {
    assert.deepEqual(violations(line), [], line);
  }
});

test("no source file outside src/bus touches Redis except through the bus's named methods", () => {
  const outside = filesUnder(join(root, "src"), (name) => /\.(ts|js|mjs)$/.test(name)).filter((f) => !f.startsWith("src/bus/"));
  assert.ok(outside.length > 50, `found only ${outside.length} source files: is the walk broken?`);
  const found = outside.flatMap((file) => violations(readFileSync(join(root, file), "utf8")).map((what) => `${file} ${what}`));
  assert.deepEqual(found, []);
});

test("every Lua script is in src/bus/commands, named <op>-<numkeys>.lua, and loaded by the one loader", () => {
  const lua = filesUnder(root, (name) => name.endsWith(".lua"));
  assert.deepEqual(
    lua.filter((f) => !f.startsWith("src/bus/commands/")),
    [],
    "Lua outside src/bus/commands",
  );
  const names = lua.map((f) => f.slice("src/bus/commands/".length));
  assert.deepEqual(
    names.filter((n) => !SCRIPT_FILE.test(n)),
    [],
    "not named <op>-<numkeys>.lua",
  );
  const ops = names.map((n) => SCRIPT_FILE.exec(n)?.[1]).sort();
  assert.deepEqual(ops, [...SCRIPT_NAMES].sort(), "each script file is one loaded operation, and each operation has its file");
});

test("src/bus/scripts.ts is the only loader inside src/bus too", () => {
  const bus = filesUnder(join(root, "src", "bus"), (name) => name.endsWith(".ts")).filter((f) => f !== "src/bus/scripts.ts");
  assert.deepEqual(
    bus.filter((file) => LOADS_LUA.test(readFileSync(join(root, file), "utf8"))),
    [],
  );
});
