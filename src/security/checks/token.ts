/** The gateway token: where the daemon would find it, and how guessable it is (never printing it). */
import { checkSetting } from "../../config/resolve.js";
import { shellQuote } from "../../util/shell.js";
import { auditTokenFile } from "../locations.js";
import type { AuditInput, Env, Finding } from "../types.js";

const MIN_TOKEN_LENGTH = 24;
const MIN_TOKEN_BITS = 100;

export interface TokenState {
  /** The token value (never printed). */
  value?: string;
  /** Where it comes from: "GATEWAY_TOKEN" or the token file's path. */
  source: string;
  /** The token file the daemon would use (or create). */
  file: string;
  /** Why there is no usable token. */
  problem?: "missing" | "empty" | "unreadable";
}

export function resolveAuditToken(env: Env, input: AuditInput): TokenState {
  const file = auditTokenFile(env, input.home);
  const fromEnv = checkSetting("GATEWAY_TOKEN", env.GATEWAY_TOKEN).value;
  if (fromEnv) return { value: fromEnv, source: "GATEWAY_TOKEN", file };
  if (!input.files.stat(file)) return { source: file, file, problem: "missing" };
  const text = input.files.read(file);
  if (text === undefined) return { source: file, file, problem: "unreadable" };
  const value = text.trim();
  return value ? { value, source: file, file } : { source: file, file, problem: "empty" };
}

/** Estimated entropy in bits: length × log2(size of the character classes used). */
export function estimateTokenBits(token: string): number {
  if (!token) return 0;
  let charset: number;
  if (/^[0-9a-f]+$/.test(token) || /^[0-9A-F]+$/.test(token)) {
    charset = /^[0-9]+$/.test(token) ? 10 : 16;
  } else {
    charset = 0;
    if (/[a-z]/.test(token)) charset += 26;
    if (/[A-Z]/.test(token)) charset += 26;
    if (/[0-9]/.test(token)) charset += 10;
    if (/[^a-zA-Z0-9]/.test(token)) charset += 32;
  }
  return Math.floor([...token].length * Math.log2(charset));
}

const WEAK_WORDS = [
  "changeme",
  "password",
  "passwd",
  "secret",
  "token",
  "letmein",
  "qwerty",
  "admin",
  "default",
  "example",
  "gateway",
  "hunter2",
  "123456",
  "abcdef",
];

/** Why a token is weak, or [] when it is not. Never includes the token itself. */
export function tokenWeaknesses(token: string): string[] {
  const reasons: string[] = [];
  const chars = [...token];
  const bits = estimateTokenBits(token);
  if (chars.length < MIN_TOKEN_LENGTH) reasons.push(`shorter than ${MIN_TOKEN_LENGTH} characters`);
  const distinct = new Set(chars).size;
  if (distinct === 1) reasons.push("a single repeated character");
  else if (distinct < 8) reasons.push(`only ${distinct} distinct characters`);
  else if (/^(.+?)\1+$/s.test(token)) reasons.push("a repeated pattern");
  const lower = token.toLowerCase();
  const word = WEAK_WORDS.find((w) => lower.includes(w));
  if (word) reasons.push(`contains a guessable word ("${word}")`);
  let steps = 0;
  for (let i = 1; i < chars.length; i++) {
    if (Math.abs(chars[i]!.codePointAt(0)! - chars[i - 1]!.codePointAt(0)!) === 1) steps++;
  }
  if (chars.length > 2 && steps / (chars.length - 1) > 0.5) reasons.push("mostly a run of consecutive characters");
  if (bits < MIN_TOKEN_BITS) reasons.push(`fewer than ${MIN_TOKEN_BITS} bits`);
  return reasons;
}

const NEW_TOKEN_FIX = (file: string) =>
  `generate a random one: (umask 077; openssl rand -base64 32 > ${shellQuote(file)}) and unset GATEWAY_TOKEN, or set GATEWAY_TOKEN to such a value; then restart the daemon and update your clients`;

export function checkTokenStrength(token: TokenState): Finding {
  const base = { id: "token-strength" as const, title: "Gateway token strength" };
  if (!token.value) {
    if (token.problem === "empty") {
      return { ...base, status: "fail", detail: `the token file ${token.source} is empty: the daemon refuses to start`, fix: NEW_TOKEN_FIX(token.source) };
    }
    if (token.problem === "unreadable") {
      return {
        ...base,
        status: "warn",
        detail: `the token file ${token.source} exists but cannot be read by this user`,
        fix: `check its owner and mode (ls -l ${shellQuote(token.source)})`,
      };
    }
    return {
      ...base,
      status: "warn",
      detail: `no token yet: GATEWAY_TOKEN is not set and ${token.source} does not exist; it is created (32 random bytes, mode 600) on first start of the daemon`,
      fix: `start the daemon once (pi-gateway daemon) or create it now: (umask 077; openssl rand -base64 32 > ${shellQuote(token.source)})`,
    };
  }
  const length = [...token.value].length;
  const bits = estimateTokenBits(token.value);
  const where = token.source === "GATEWAY_TOKEN" ? "GATEWAY_TOKEN" : `token file ${token.source}`;
  const weak = tokenWeaknesses(token.value);
  if (weak.length) {
    return {
      ...base,
      status: "fail",
      detail: `${where}: ${length} characters, about ${bits} bits estimated; weak: ${weak.join(", ")}. It guards the WebSocket (prompting your agent), POST /events and the webhooks`,
      fix: NEW_TOKEN_FIX(token.file),
    };
  }
  return { ...base, status: "pass", detail: `${where}: ${length} characters, about ${bits} bits estimated` };
}
