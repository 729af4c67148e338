/**
 * The daemon's state is private (issue #17 item 7): a token file others can read is fixed before
 * it is used, and transcripts and the config directory left 0755/0644 are made 0700/0600.
 */
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { resolveToken } from "../../src/daemon/config.js";
import { tightenModes } from "../../src/daemon/private-state.js";

const root = mkdtempSync(join(tmpdir(), "pi-gateway-private-"));
after(() => rmSync(root, { recursive: true, force: true }));
const modeOf = (path: string) => statSync(path).mode & 0o777;

test("a token file readable by others is made 0600 before use, and says what it fixed", () => {
  const file = join(root, "token");
  writeFileSync(file, "a-token-of-enough-length-0123456789\n");
  chmodSync(file, 0o644);
  const resolved = resolveToken({ GATEWAY_TOKEN_FILE: file }, root);
  assert.equal(resolved.token, "a-token-of-enough-length-0123456789");
  assert.equal(modeOf(file), 0o600);
  assert.match(resolved.fixed ?? "", /had mode 0644 \(others could read it\); it is now 0600/);
  assert.equal(resolveToken({ GATEWAY_TOKEN_FILE: file }, root).fixed, undefined, "a private file is left alone and not reported");
});

test("a new token file is created private; GATEWAY_TOKEN needs no file", () => {
  const file = join(root, "new", "token");
  const resolved = resolveToken({ GATEWAY_TOKEN_FILE: file }, root);
  assert.equal(modeOf(file), 0o600);
  assert.equal(resolved.fixed, undefined);
  assert.equal(resolveToken({ GATEWAY_TOKEN: "from-env-0123456789abcdef" }, root).source, "GATEWAY_TOKEN");
});

test("tightenModes makes a transcript tree private, leaves private paths and symlink targets alone", () => {
  const sessions = join(root, "sessions", "--work--");
  mkdirSync(sessions, { recursive: true });
  chmodSync(join(root, "sessions"), 0o755);
  chmodSync(sessions, 0o755);
  const transcript = join(sessions, "2026-12-02.jsonl");
  writeFileSync(transcript, "{}\n");
  chmodSync(transcript, 0o644);
  const already = join(sessions, "private.jsonl");
  writeFileSync(already, "{}\n");
  chmodSync(already, 0o600);
  const outside = join(root, "outside.txt");
  writeFileSync(outside, "x");
  chmodSync(outside, 0o644);
  symlinkSync(outside, join(sessions, "link"));

  const result = tightenModes([join(root, "sessions"), join(root, "missing")]);
  assert.deepEqual(result.failed, []);
  assert.deepEqual(result.fixed.sort(), [join(root, "sessions"), sessions, transcript].sort());
  assert.equal(modeOf(join(root, "sessions")), 0o700);
  assert.equal(modeOf(transcript), 0o600);
  assert.equal(modeOf(already), 0o600);
  assert.equal(modeOf(outside), 0o644, "a symlink's target is not ours to change");
  assert.deepEqual(tightenModes([join(root, "sessions")]).fixed, [], "a second run has nothing to fix");
});
