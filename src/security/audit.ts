/**
 * `pi-gateway security audit`, the logic: the gateway's settings as the daemon would run them
 * (environment first, then gateway.env), checked for exposure and weak secrets. Pure apart from the
 * file view the caller hands in, so tests never touch a real home. No finding ever contains a secret:
 * tokens are described by length and estimated strength, Redis URLs are shown with the password masked.
 */
import { mergeEnvFile } from "../config/env-file.js";
import { checkFilePermissions } from "./checks/file-permissions.js";
import { checkBind } from "./checks/network.js";
import { checkRedis } from "./checks/redis.js";
import { checkTelegram } from "./checks/telegram.js";
import { checkTokenStrength, resolveAuditToken } from "./checks/token.js";
import { checkWebhooks } from "./checks/webhooks.js";
import { auditEnvFile } from "./locations.js";
import type { AuditInput, Env, Finding } from "./types.js";

export { estimateTokenBits, tokenWeaknesses } from "./checks/token.js";
export { auditEnvFile } from "./locations.js";
export type { AuditFiles, AuditInput, Finding, Severity } from "./types.js";

/** The environment as the gateway would see it: variables already set win over gateway.env. */
function effectiveEnv(input: AuditInput): { env: Env; envFile?: string } {
  const env: Env = { ...input.env };
  const envFile = auditEnvFile(input.env, input.home);
  const text = envFile ? input.files.read(envFile) : undefined;
  if (text !== undefined) mergeEnvFile(env, text);
  return { env, envFile };
}

export function runAudit(input: AuditInput): Finding[] {
  const { env, envFile } = effectiveEnv(input);
  const token = resolveAuditToken(env, input);
  return [
    checkBind(env, token),
    checkTokenStrength(token),
    ...checkFilePermissions(env, input, envFile),
    checkTelegram(env),
    ...checkRedis(env),
    ...checkWebhooks(env),
  ];
}
