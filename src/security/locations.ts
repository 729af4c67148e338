/** Where the audited gateway keeps its settings and token, for a given environment and home. */
import { join } from "node:path";
import type { Env } from "./types.js";

export function configDir(home: string): string {
  return join(home, ".config", "pi-gateway");
}

/** Where the gateway reads gateway.env from (GATEWAY_ENV_FILE wins; "none" turns it off). */
export function auditEnvFile(env: Env, home: string): string | undefined {
  if (env.GATEWAY_ENV_FILE === "none") return undefined;
  return env.GATEWAY_ENV_FILE || join(configDir(home), "gateway.env");
}

export function auditTokenFile(env: Env, home: string): string {
  return env.GATEWAY_TOKEN_FILE || join(configDir(home), "token");
}
