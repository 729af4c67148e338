/**
 * The settings file `pi-gateway setup` writes (~/.config/pi-gateway/gateway.env, mode 600): every
 * `pi-gateway` command reads it, so services, cron lines and interactive use share one place for
 * REDIS_URL, tokens and intervals. Variables already set in the environment win.
 */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export function gatewayEnvFile(env: Record<string, string | undefined> = process.env): string | undefined {
  if (env.GATEWAY_ENV_FILE === "none") return undefined;
  return env.GATEWAY_ENV_FILE || join(env.HOME || homedir(), ".config", "pi-gateway", "gateway.env");
}

/** Parses KEY=VALUE lines (comments, blank lines and optional quotes allowed). */
export function parseEnvFile(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!match || line.trimStart().startsWith("#")) continue;
    let value = match[2]!;
    if ((value.startsWith('"') && value.endsWith('"')) || (value.startsWith("'") && value.endsWith("'"))) value = value.slice(1, -1);
    values[match[1]!] = value;
  }
  return values;
}

/** Loads the file into `env` without overriding; returns the path loaded, if any. */
export function loadGatewayEnvFile(env: Record<string, string | undefined> = process.env): string | undefined {
  const path = gatewayEnvFile(env);
  if (!path || !existsSync(path)) return undefined;
  for (const [key, value] of Object.entries(parseEnvFile(readFileSync(path, "utf8")))) {
    if (env[key] === undefined || env[key] === "") env[key] = value;
  }
  return path;
}
