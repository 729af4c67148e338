/**
 * The settings file `pi-gateway setup` writes (~/.config/pi-gateway/gateway.env, mode 600): every
 * `pi-gateway` command reads it, so services, cron lines and interactive use share one place for
 * REDIS_URL, tokens and intervals. Variables already set in the environment win. Its values are
 * parsed by the same schema as the environment's (they are merged into it before anything reads).
 */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { parseSetting, type Env } from "./resolve.js";

/** The gateway's config directory (gateway.env, token): ~/.config/pi-gateway. */
export function gatewayConfigDir(home: string): string {
  return join(home, ".config", "pi-gateway");
}

/** The heartbeat checklist's default place, as in the original design: ~/HEARTBEAT.md. */
export function defaultHeartbeatFile(home = homedir()): string {
  return join(home, "HEARTBEAT.md");
}

/** Where gateway.env is read from for `home`: GATEWAY_ENV_FILE wins, "none" turns it off. */
export function gatewayEnvFile(env: Env = process.env, home = env.HOME || homedir()): string | undefined {
  const file = parseSetting("GATEWAY_ENV_FILE", env.GATEWAY_ENV_FILE);
  if (file === "none") return undefined;
  return file ?? join(gatewayConfigDir(home), "gateway.env");
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

/** Fills what `env` leaves unset (or empty) from gateway.env's text; returns the names it filled. */
export function mergeEnvFile(env: Env, text: string): string[] {
  const filled: string[] = [];
  for (const [key, value] of Object.entries(parseEnvFile(text))) {
    if (env[key] === undefined || env[key] === "") {
      env[key] = value;
      filled.push(key);
    }
  }
  return filled;
}

/** Names whose value came from gateway.env in this process (for `pi-gateway config`). */
export const fromEnvFile = new Set<string>();

/** Loads the file into `env` without overriding; returns the path loaded, if any. */
export function loadGatewayEnvFile(env: Env = process.env): string | undefined {
  const path = gatewayEnvFile(env);
  if (!path || !existsSync(path)) return undefined;
  for (const key of mergeEnvFile(env, readFileSync(path, "utf8"))) fromEnvFile.add(key);
  return path;
}
