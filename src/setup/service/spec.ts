/** Checks and derived values shared by the launchd, systemd and tmux generators. */
import { posix } from "node:path";
import type { Platform, ServiceSpec } from "./types.js";

const LABEL = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Control characters cannot be written to a plist (XML 1.0) and are almost certainly a mistake.
 * Newlines and tabs are legitimate inside arguments and values, but not in paths or one-line settings.
 */
function hasControlChar(value: string, allowNewlineAndTab = false): boolean {
  for (const char of value) {
    const code = char.codePointAt(0)!;
    if (allowNewlineAndTab && (char === "\n" || char === "\t")) continue;
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/** Throws a one-line error naming the first field no service manager could represent. */
export function validateSpec(spec: ServiceSpec): void {
  // The label becomes a file name and a unit name: no slashes, no spaces, no leading dot.
  if (!LABEL.test(spec.label)) throw new Error(`service label "${spec.label}" may only contain letters, digits, ".", "_" and "-"`);
  for (const [name, value] of [
    ["program", spec.program],
    ["workingDirectory", spec.workingDirectory],
    ["logDir", spec.logDir],
  ] as const) {
    if (!posix.isAbsolute(value)) throw new Error(`service ${name} must be an absolute path, got "${value}"`);
    if (hasControlChar(value)) throw new Error(`service ${name} contains a control character`);
  }
  if (hasControlChar(spec.description)) throw new Error("service description must be one line");
  spec.args.forEach((arg, i) => {
    if (hasControlChar(arg, true)) throw new Error(`service argument ${i} contains a control character`);
  });
  for (const [key, value] of Object.entries(spec.env)) {
    if (!ENV_NAME.test(key)) throw new Error(`environment variable name "${key}" is not valid`);
    if (hasControlChar(value, true)) throw new Error(`environment variable ${key} contains a control character`);
  }
}

/** Where the service manager appends the process's stdout and stderr. */
export function logPaths(spec: ServiceSpec): { stdout: string; stderr: string } {
  return {
    stdout: posix.join(spec.logDir, `${spec.label}.out.log`),
    stderr: posix.join(spec.logDir, `${spec.label}.err.log`),
  };
}

/**
 * The environment the service starts with. launchd starts jobs with PATH=/usr/bin:/bin:/usr/sbin:/sbin
 * and systemd's user manager with a similar minimal PATH, so node (often under nvm or Homebrew), tmux
 * and redis-cli would not be found; we prepend the program's own directory (where nvm/npm put node and
 * pi side by side) and the usual package-manager directories. An explicit PATH in the spec wins.
 */
export function serviceEnv(spec: ServiceSpec, platform: Platform): Record<string, string> {
  const extra = platform === "darwin" ? ["/opt/homebrew/bin", "/usr/local/bin"] : ["/usr/local/bin"];
  const path = [posix.dirname(spec.program), ...extra, "/usr/bin", "/bin", "/usr/sbin", "/sbin"];
  return { PATH: [...new Set(path)].join(":"), ...agentEnv(spec) };
}

/** The spec's variables, plus GATEWAY_ROLE=central in tmux-pi mode (an explicit value wins). */
export function agentEnv(spec: ServiceSpec): Record<string, string> {
  // The always-on interactive session is the one that receives heartbeats.
  return spec.mode === "tmux-pi" ? { GATEWAY_ROLE: "central", ...spec.env } : { ...spec.env };
}

const SECRET_NAME = /TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|PRIVATE|CREDENTIAL|AUTH/i;
// scheme://user:password@host: e.g. REDIS_URL=redis://:hunter2@host
const URL_WITH_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^/@\s]*:[^/@\s]+@/i;

/** 0o600 when a value looks like a secret, so a service file never leaks a token to other users. */
export function fileModeFor(env: Record<string, string>): number {
  const secret = Object.entries(env).some(([key, value]) => value !== "" && (SECRET_NAME.test(key) || URL_WITH_PASSWORD.test(value)));
  return secret ? 0o600 : 0o644;
}
