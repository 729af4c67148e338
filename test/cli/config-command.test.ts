/**
 * `pi-gateway config`: every setting of the schema with its value (secrets masked), its source
 * (env, gateway.env, default) and help; a bad value is listed and ends with its one line, exit 2.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { SETTINGS } from "../../src/config/schema.js";
import { runCli } from "../helpers/cli.js";

interface Listed {
  name: string;
  value: string;
  source: string;
  default: string;
  help: string;
  problem?: string;
}

function envFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), "pigw-config-")), "gateway.env");
  writeFileSync(file, text);
  return file;
}

test("config --json: sources env / gateway.env / default, secrets and passwords masked", async () => {
  const file = envFile("GATEWAY_LEASE=3s\nGATEWAY_PREFIX=fromfile\nTELEGRAM_BOT_TOKEN=123:file-secret-token\n");
  const result = await runCli(["config", "--json"], {
    env: {
      GATEWAY_ENV_FILE: file,
      GATEWAY_PREFIX: "fromenv",
      REDIS_URL: "redis://:hunter2@db:6380",
      GATEWAY_TOKEN: "env-secret-token",
      GATEWAY_HOST: "",
      GATEWAY_POLL_INTERVAL: "",
    },
  });
  assert.equal(result.code, 0, result.stderr);
  assert.doesNotMatch(result.stdout, /hunter2|file-secret-token|env-secret-token/);
  const report = JSON.parse(result.stdout) as { ok: boolean; envFile: string; settings: Listed[] };
  assert.equal(report.ok, true);
  assert.equal(report.envFile, file);
  assert.deepEqual(
    report.settings.map((s) => s.name),
    Object.keys(SETTINGS),
    "every setting, in the schema's order",
  );
  const by = Object.fromEntries(report.settings.map((s) => [s.name, s]));
  assert.deepEqual([by.GATEWAY_LEASE!.value, by.GATEWAY_LEASE!.source], ["3s", "gateway.env"]);
  assert.deepEqual([by.GATEWAY_PREFIX!.value, by.GATEWAY_PREFIX!.source], ["fromenv", "env"], "the environment wins");
  assert.deepEqual([by.REDIS_URL!.value, by.REDIS_URL!.source], ["redis://:***@db:6380", "env"]);
  assert.deepEqual([by.GATEWAY_TOKEN!.value, by.GATEWAY_TOKEN!.source], ["<secret, 16 characters>", "env"]);
  assert.deepEqual([by.TELEGRAM_BOT_TOKEN!.value, by.TELEGRAM_BOT_TOKEN!.source], ["<secret, 21 characters>", "gateway.env"]);
  assert.deepEqual([by.GATEWAY_HOST!.value, by.GATEWAY_HOST!.source], ["127.0.0.1", "default"], "empty means unset");
  assert.deepEqual([by.GATEWAY_POLL_INTERVAL!.value, by.GATEWAY_POLL_INTERVAL!.source], ["5s", "default"]);
});

test("config with a bad value in gateway.env: listed as INVALID, then its one line, exit 2", async () => {
  const file = envFile('GATEWAY_HOOKS={"github":{"secret":"hunter2-hook-secret"\n');
  const result = await runCli(["config"], { env: { GATEWAY_ENV_FILE: file } });
  assert.equal(result.code, 2);
  assert.match(result.stdout, /^GATEWAY_HOOKS\s+<secret, \d+ characters>\s+INVALID\s+webhooks/m);
  assert.equal(
    result.stderr,
    'pi-gateway: GATEWAY_HOOKS="<secret, 41 characters>" is not valid JSON (expected {"<name>":{"secret":"<random>"}} (secret, token, eventType))\n',
  );
  assert.doesNotMatch(result.stdout + result.stderr, /hunter2/);
});

test("a bad value from gateway.env stops other commands with the same line", async () => {
  const file = envFile("GATEWAY_LEASE=soon\n");
  const result = await runCli(["status"], { env: { GATEWAY_ENV_FILE: file, REDIS_URL: "redis://127.0.0.1:1" } });
  assert.equal(result.code, 2);
  assert.equal(result.stderr, 'pi-gateway: GATEWAY_LEASE="soon" is not a duration (expected e.g. 500ms, 30s, 15m, 2h)\n');
});
