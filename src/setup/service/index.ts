/** Picks the persistence mechanism for the platform and returns the files and commands `setup` applies. */
import { launchdCommands, launchdPlist } from "./launchd.js";
import { shellJoin, shellQuote } from "../../util/shell.js";
import { logPaths, validateSpec } from "./spec.js";
import { systemdCommands, systemdUserUnit } from "./systemd.js";
import { tmuxBase, tmuxCommand, DEFAULT_TMUX_SESSION, type TmuxOptions } from "./tmux.js";
import type { GeneratedFile, Platform, ServiceSpec } from "./types.js";

export type ServiceManager = "launchd" | "systemd" | "tmux";

export interface GenerateOptions {
  platform: Platform;
  /** Defaults to launchd on macOS and systemd on Linux. */
  manager?: ServiceManager;
  home: string;
  tmux?: TmuxOptions;
}

export interface GeneratedService {
  files: GeneratedFile[];
  /** Shell command lines to run, in order, after writing the files. */
  commands: string[];
  /** Human hints: where logs go, how to check status, attach, uninstall. */
  notes: string[];
}

export function generateServiceFiles(spec: ServiceSpec, options: GenerateOptions): GeneratedService {
  validateSpec(spec);
  const manager = options.manager ?? (options.platform === "darwin" ? "launchd" : "systemd");
  const attach = `${shellJoin([...tmuxBase(options.tmux), "attach", "-t", options.tmux?.session ?? DEFAULT_TMUX_SESSION])}  (detach: Ctrl-B D)`;
  if (manager === "tmux") {
    const notes = ["tmux keeps the session alive when the terminal closes, but nothing restarts it after a crash or reboot; use launchd/systemd for that."];
    notes.push(`Attach: ${attach}`);
    if (Object.keys(spec.env).length) notes.push("The environment is part of the command line (shell history, ps); prefer launchd/systemd for secrets.");
    return { files: [], commands: [tmuxCommand(spec, options.tmux)], notes };
  }
  if (manager === "launchd" && options.platform !== "darwin") throw new Error("launchd is only available on macOS");
  if (manager === "systemd" && options.platform !== "linux") throw new Error("systemd is only available on Linux");

  const file = manager === "launchd" ? launchdPlist(spec, options) : systemdUserUnit(spec, options);
  const commands = manager === "launchd" ? launchdCommands(file) : systemdCommands(file);
  const logs = logPaths(spec);
  const notes = [`Logs: ${logs.stdout} and ${logs.stderr}`, ...commands.status.map((c) => `Status: ${c}`), ...commands.uninstall.map((c) => `Uninstall: ${c}`)];
  if (spec.mode === "tmux-pi") {
    notes.push(`Attach to pi: ${attach}`);
    notes.push("pi's own output is in the tmux pane; the log files only hold the supervisor's and tmux's errors.");
  }
  if (file.mode === 0o600) notes.push(`${file.path} holds secrets and is written with mode 600.`);
  // Neither launchd nor systemd creates the log directory, and both fail to start without it.
  return { files: [file], commands: [`mkdir -p ${shellQuote(spec.logDir)}`, ...commands.install], notes };
}

export type { GeneratedFile, ServiceSpec } from "./types.js";
export { launchdCommands, launchdPlist } from "./launchd.js";
export { systemdCommands, systemdEscapeArg, systemdUserUnit } from "./systemd.js";
export { tmuxCommand, tmuxSupervisorScript } from "./tmux.js";
export { shellJoin, shellQuote } from "../../util/shell.js";
