/** `pi-gateway security audit`: the gateway's settings checked for exposure and weak secrets. */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { resolve } from "node:path";
import type { Command } from "commander";
import { action, globalOptions, print, printJson } from "../cli/context.js";
import { gatewayEnvFile, parseEnvFile } from "../config/env-file.js";
import { runAudit, type Severity } from "./audit.js";
import { nodeAuditFiles } from "./files.js";

const MARK: Record<Severity, string> = { pass: "✔", warn: "!", fail: "✘", skip: "-" };

/**
 * The environment to audit for `home`. The CLI entry point has already merged the invoking user's
 * gateway.env into process.env; when another home is audited, those values are taken out again so
 * they don't mask that home's own file (runAudit reads it).
 */
function auditEnvironment(processEnv: Record<string, string | undefined>, home: string): Record<string, string | undefined> {
  const env = { ...processEnv };
  const loaded = gatewayEnvFile(processEnv);
  const audited = gatewayEnvFile(processEnv, home);
  if (loaded && audited !== undefined && resolve(loaded) !== resolve(audited) && existsSync(loaded)) {
    try {
      for (const [key, value] of Object.entries(parseEnvFile(readFileSync(loaded, "utf8")))) {
        if (env[key] === value) delete env[key];
      }
    } catch {
      // unreadable: nothing was loaded from it either
    }
  }
  return env;
}

export function registerSecurity(program: Command): void {
  const security = program.command("security").description("security checks of the gateway's configuration");
  security
    .command("audit")
    .description("audit the settings the gateway runs with: network exposure, token strength, file permissions, Telegram allowlist, Redis TLS, webhooks")
    .option("--home <dir>", "home directory to audit (default: yours)")
    .action(
      action(async (flags: { home?: string }, command: Command) => {
        const options = globalOptions(command);
        const home = resolve(flags.home ?? homedir());
        const env = auditEnvironment(process.env, home);
        if (options.redisUrl) env.REDIS_URL = options.redisUrl;
        const findings = runAudit({ env, home, files: nodeAuditFiles(), uid: process.getuid?.() });
        const failed = findings.filter((f) => f.status === "fail").length;
        const warned = findings.filter((f) => f.status === "warn").length;
        const ok = failed === 0;
        if (!ok) process.exitCode = 1;
        const envFile = gatewayEnvFile(env, home) ?? null;
        if (options.json) return printJson({ ok, home, envFile, failed, warnings: warned, findings });
        print(`Security audit of ${home} (settings: environment${envFile ? ` + ${envFile}` : ""})`);
        for (const f of findings) {
          print(`${MARK[f.status]} ${f.title}: ${f.detail}`);
          if (f.fix && f.status !== "pass" && f.status !== "skip") print(`    fix: ${f.fix}`);
        }
        const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
        if (ok && !warned) print("\nNo findings: everything checked passed.");
        else print(`\n${plural(failed, "failure")}, ${plural(warned, "warning")}.`);
      }),
    );
}
