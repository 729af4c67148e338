// The Telegram media and pairing settings at their edges: unset / empty give the default, malformed
// and hostile values are one-line usage errors naming the variable, and the daemon settings carry them.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { ConfigError } from "../../../src/config/errors.js";
import { parseSetting } from "../../../src/config/resolve.js";
import type { SettingName } from "../../../src/config/schema.js";
import { resolveDaemonSettings } from "../../../src/daemon/config.js";

function refused(name: SettingName, raw: string, line: RegExp): void {
  assert.throws(
    () => parseSetting(name, raw),
    (error: Error) => error instanceof ConfigError && error.message.startsWith(`${name}="`) && line.test(error.message) && !error.message.includes("\n"),
    `${name}=${JSON.stringify(raw)}`,
  );
}

const HOSTILE = ["1e309", "NaN", "-5", "9".repeat(400), "１０", "5\n6", "\u001b[31m5", "0x10"];

test("GATEWAY_TELEGRAM_PHOTO_MAX / GATEWAY_TELEGRAM_FILE_MAX: sizes of at least 1KiB", () => {
  assert.equal(parseSetting("GATEWAY_TELEGRAM_PHOTO_MAX", undefined), 5 * 1024 * 1024);
  assert.equal(parseSetting("GATEWAY_TELEGRAM_PHOTO_MAX", ""), 5 * 1024 * 1024);
  assert.equal(parseSetting("GATEWAY_TELEGRAM_FILE_MAX", "  "), 20 * 1024 * 1024);
  assert.equal(parseSetting("GATEWAY_TELEGRAM_FILE_MAX", "1KiB"), 1024);
  refused("GATEWAY_TELEGRAM_FILE_MAX", "1023", /is less than 1KiB/);
  for (const raw of HOSTILE) refused("GATEWAY_TELEGRAM_PHOTO_MAX", raw, /is not a size|is less than/);
});

test("GATEWAY_PAIRING_TTL: a duration from 1m to 7d; GATEWAY_PAIRING_MAX: 1 to 1000", () => {
  assert.equal(parseSetting("GATEWAY_PAIRING_TTL", undefined), 3_600_000);
  assert.equal(parseSetting("GATEWAY_PAIRING_TTL", "15m"), 900_000);
  refused("GATEWAY_PAIRING_TTL", "30s", /is less than/);
  refused("GATEWAY_PAIRING_TTL", "8d", /is more than/);
  for (const raw of HOSTILE) refused("GATEWAY_PAIRING_TTL", raw, /is not a duration|is less than|is more than/);
  assert.equal(parseSetting("GATEWAY_PAIRING_MAX", ""), 20);
  refused("GATEWAY_PAIRING_MAX", "0", /is less than 1/);
  refused("GATEWAY_PAIRING_MAX", "1001", /is more than 1000/);
  for (const raw of HOSTILE) refused("GATEWAY_PAIRING_MAX", raw, /is not a whole number|is more than/);
});

test("GATEWAY_FILES_DIR: a path without control characters, defaulting under the config dir", () => {
  const base = { TELEGRAM_BOT_TOKEN: "1:x", GATEWAY_ENV_FILE: "none", HOME: "/home/someone", GATEWAY_TOKEN: "t".repeat(32) };
  const telegram = resolveDaemonSettings(base).telegram;
  assert.equal(telegram?.filesDir, join("/home/someone", ".config", "pi-gateway", "files"));
  assert.deepEqual(
    { photo: telegram?.photoMaxBytes, file: telegram?.fileMaxBytes, pairing: telegram?.pairing },
    { photo: 5 * 1024 * 1024, file: 20 * 1024 * 1024, pairing: { ttlMs: 3_600_000, maxPending: 20 } },
  );
  assert.equal(resolveDaemonSettings({ ...base, GATEWAY_FILES_DIR: "" }).telegram?.filesDir, join("/home/someone", ".config", "pi-gateway", "files"));
  assert.equal(resolveDaemonSettings({ ...base, GATEWAY_FILES_DIR: " /srv/files " }).telegram?.filesDir, "/srv/files");
  refused("GATEWAY_FILES_DIR", "/tmp/a\nb", /has control characters/);
  assert.throws(() => resolveDaemonSettings({ ...base, GATEWAY_PAIRING_MAX: "lots" }), /GATEWAY_PAIRING_MAX/);
  // TELEGRAM_PAIRING: on unless 0; empty is the default; anything else is refused.
  assert.equal(resolveDaemonSettings({ ...base, TELEGRAM_PAIRING: "0" }).telegram?.pairing, undefined);
  assert.deepEqual(resolveDaemonSettings({ ...base, TELEGRAM_PAIRING: "" }).telegram?.pairing, { ttlMs: 3_600_000, maxPending: 20 });
  for (const raw of ["maybe", "2", "\u001b[31m1"]) refused("TELEGRAM_PAIRING", raw, /is not 1 or 0/);
});
