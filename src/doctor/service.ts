/**
 * The always-on service, as two checks: installed (its unit file is where setup writes it) and
 * running (the service manager says so). A unit file that was never started, or a service that
 * keeps crashing, looks installed on disk; only the manager knows whether it runs. The probes run
 * the managers' own commands (`systemctl --user is-active`, `launchctl print`, `tmux has-session`)
 * through a function tests replace.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { AGENT_SERVICE_LABEL, serviceFilePath, type SetupPaths } from "../setup/paths.js";
import { launchdCommands, systemdCommands, type ServiceManager } from "../setup/service/index.js";
import { DEFAULT_TMUX_SESSION, tmuxBase } from "../setup/service/tmux.js";
import { shellJoin } from "../util/shell.js";
import type { CheckResult } from "./checks.js";

export interface ProbeResult {
  /** Exit code; null when the command could not run at all. */
  code: number | null;
  stdout: string;
  /** Why it could not run (not installed, timed out...). */
  error?: string;
}

/** Runs a service manager's command; tests inject a fake one. */
export type CommandProbe = (command: string, args: string[]) => Promise<ProbeResult>;

export const runProbe: CommandProbe = (command, args) =>
  new Promise((resolve) => {
    execFile(command, args, { timeout: 5_000, encoding: "utf8" }, (error, stdout) => {
      const code = error ? (typeof error.code === "number" ? error.code : null) : 0;
      resolve({ code, stdout: String(stdout), error: code === null ? (error?.message ?? "failed") : undefined });
    });
  });

const INSTALLED = { id: "service", title: "Always-on service installed" };
const RUNNING = { id: "service-running", title: "Always-on service running" };

/** Where setup wrote the unit file; undefined for tmux, which has none (a command starts it). */
function unitFile(manager: ServiceManager, paths: SetupPaths): string | undefined {
  return manager === "tmux" ? undefined : serviceFilePath(paths.home, manager, AGENT_SERVICE_LABEL);
}

export function checkServiceInstalled(manager: ServiceManager | "none", paths: SetupPaths): CheckResult {
  if (manager === "none") return { ...INSTALLED, status: "skip", detail: "setup installed no service (--service none)" };
  const path = unitFile(manager, paths);
  if (!path) return { ...INSTALLED, status: "skip", detail: "tmux: nothing to install, a command starts the session (see the running check)" };
  return existsSync(path)
    ? { ...INSTALLED, status: "pass", detail: `${manager} unit ${path}` }
    : {
        ...INSTALLED,
        status: "fail",
        detail: `no ${manager} service at ${path}`,
        fix: "pi-gateway setup --tier 2 (keeps the central session alive across terminal closes, crashes and reboots)",
      };
}

export async function checkServiceRunning(manager: ServiceManager | "none", paths: SetupPaths, probe: CommandProbe): Promise<CheckResult> {
  if (manager === "none") return { ...RUNNING, status: "skip", detail: "no service to run (--service none)" };
  const path = unitFile(manager, paths);
  if (path && !existsSync(path)) return { ...RUNNING, status: "skip", detail: "not installed" };
  if (manager === "systemd") return systemdRunning(path!, probe);
  if (manager === "launchd") return launchdRunning(path!, probe);
  return tmuxRunning(probe);
}

function cannotTell(command: string, result: ProbeResult): CheckResult {
  return { ...RUNNING, status: "warn", detail: `cannot tell: ${command} did not run (${result.error ?? `exit ${result.code}`})` };
}

async function systemdRunning(path: string, probe: CommandProbe): Promise<CheckResult> {
  const unit = `${AGENT_SERVICE_LABEL}.service`;
  const result = await probe("systemctl", ["--user", "is-active", unit]);
  if (result.code === null) return cannotTell("systemctl --user is-active", result);
  const state = result.stdout.trim() || "unknown";
  if (result.code === 0 && state === "active") return { ...RUNNING, status: "pass", detail: `systemctl --user is-active ${unit}: active` };
  const commands = systemdCommands({ path, content: "", mode: 0o644, description: "" });
  return {
    ...RUNNING,
    status: "fail",
    detail: `installed but not running (systemctl --user is-active ${unit}: ${state})`,
    fix: `${commands.install.at(-1)!}; why it stopped: ${commands.status.at(-1)!}`,
  };
}

async function launchdRunning(path: string, probe: CommandProbe): Promise<CheckResult> {
  const uid = process.getuid?.() ?? 0;
  const target = `gui/${uid}/${AGENT_SERVICE_LABEL}`;
  const result = await probe("launchctl", ["print", target]);
  if (result.code === null) return cannotTell("launchctl print", result);
  const commands = launchdCommands({ path, content: "", mode: 0o644, description: "" });
  const fix = commands.install.join(" && ");
  if (result.code !== 0) return { ...RUNNING, status: "fail", detail: `installed but not loaded (launchctl print ${target} found nothing)`, fix };
  const state = /^\s*state = (.+)$/m.exec(result.stdout)?.[1]?.trim() ?? "unknown";
  if (state === "running") return { ...RUNNING, status: "pass", detail: `launchctl print ${target}: state = running` };
  return {
    ...RUNNING,
    status: "fail",
    detail: `loaded but not running (launchctl print ${target}: state = ${state})`,
    fix: `launchctl kickstart -k ${target}`,
  };
}

async function tmuxRunning(probe: CommandProbe): Promise<CheckResult> {
  const [command, ...base] = tmuxBase();
  const args = [...base, "has-session", "-t", `=${DEFAULT_TMUX_SESSION}`];
  const result = await probe(command!, args);
  const shown = shellJoin([command!, ...args]);
  if (result.code === null) return cannotTell(shown, result);
  return result.code === 0
    ? { ...RUNNING, status: "pass", detail: `${shown}: the session exists` }
    : {
        ...RUNNING,
        status: "fail",
        detail: `no tmux session "${DEFAULT_TMUX_SESSION}" (${shown} failed)`,
        fix: "pi-gateway setup --service tmux --start (or run the tmux command it prints)",
      };
}
