import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadGatewayEnvFile, parseEnvFile } from "../../src/config/env-file.js";
import { runCli } from "../helpers/cli.js";

test("gateway.env: comments, quotes and export are understood; the environment wins over the file", () => {
  assert.deepEqual(parseEnvFile("# c\nA=1\nexport B=\"two words\"\n  C = 'x' \nnot a line\n# D=4\n"), { A: "1", B: "two words", C: "x" });
  const dir = mkdtempSync(join(tmpdir(), "pigw-env-"));
  const file = join(dir, "gateway.env");
  writeFileSync(file, "REDIS_URL=redis://from-file:6379\nGATEWAY_PREFIX=filep\n");
  const env: Record<string, string | undefined> = { GATEWAY_ENV_FILE: file, GATEWAY_PREFIX: "fromenv" };
  assert.equal(loadGatewayEnvFile(env), file);
  assert.equal(env.REDIS_URL, "redis://from-file:6379");
  assert.equal(env.GATEWAY_PREFIX, "fromenv");
  assert.equal(loadGatewayEnvFile({ GATEWAY_ENV_FILE: "none" }), undefined);
});

test("every command reads the file setup wrote (HOME/.config/pi-gateway/gateway.env)", async () => {
  const home = mkdtempSync(join(tmpdir(), "pigw-envhome-"));
  const { mkdirSync } = await import("node:fs");
  mkdirSync(join(home, ".config/pi-gateway"), { recursive: true });
  writeFileSync(join(home, ".config/pi-gateway/gateway.env"), "REDIS_URL=redis://127.0.0.1:1\n");
  const result = await runCli(["status", "--timeout", "500ms"], { env: { HOME: home, REDIS_URL: "", GATEWAY_ENV_FILE: "" } });
  assert.equal(result.code, 3);
  assert.match(result.stderr, /Redis at redis:\/\/127\.0\.0\.1:1 refused the connection/, "the URL came from the file");
});
