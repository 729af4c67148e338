/**
 * The layering of the architecture note is enforced by the lint (eslint.config.js, LAYERS): a module
 * importing from a layer above its own fails `npm run lint`. Checked with ESLint's own API on code
 * placed (virtually) in each layer, so the rule is proven to fire, not only configured.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ESLint } from "eslint";

const root = new URL("../..", import.meta.url).pathname;
const eslint = new ESLint({ cwd: root });

async function restricted(file: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${source}\nexport const probe = 1;\n`, { filePath: `${root}${file}` });
  return (result?.messages ?? []).filter((m) => m.ruleId === "no-restricted-imports").map((m) => m.message);
}

test("an upward import fails the lint, naming both layers", async () => {
  const cases: Array<[file: string, source: string]> = [
    ["src/bus/probe.ts", 'import { Daemon } from "../daemon/daemon.js";'],
    ["src/protocol/probe.ts", 'import { GatewayBus } from "../bus/bus.js";'],
    ["src/channels/websocket/probe.ts", 'import { main } from "../../cli/main.js";'],
    ["src/daemon/probe.ts", 'import type { Channel } from "../channels/websocket/server.js";'],
    ["src/config/probe.ts", 'export { x } from "../host/x.js";'],
  ];
  for (const [file, source] of cases) {
    const messages = await restricted(file, source);
    assert.equal(messages.length, 1, `${file}: ${source} -> ${JSON.stringify(messages)}`);
    assert.match(messages[0]!, /is below .* in the layering/);
  }
});

test("downward and same-layer imports pass, and a folder's cli.ts (or cli-*.ts part) may wire everything", async () => {
  const cases: Array<[file: string, source: string]> = [
    ["src/daemon/probe.ts", 'import { GatewayBus } from "../bus/bus.js";\nimport { x } from "./x.js";'],
    ["src/channels/http/probe.ts", 'import type { Channel } from "../../daemon/types.js";\nimport { y } from "../websocket/server.js";'],
    ["src/daemon/cli.ts", 'import { createHttpApp } from "../channels/http/app.js";'],
    ["src/daemon/cli-serve.ts", 'import { createHttpApp } from "../channels/http/app.js";'],
    ["src/cli/probe.ts", 'import { Daemon } from "../daemon/daemon.js";'],
  ];
  for (const [file, source] of cases) assert.deepEqual(await restricted(file, source), [], `${file}: ${source}`);
});
