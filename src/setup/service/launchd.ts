/** macOS: a per-user LaunchAgent, built with the plist package so every value is XML-escaped. */
import { posix } from "node:path";
import plist from "plist";
import { shellQuote } from "../../util/shell.js";
import { fileModeFor, logPaths, serviceEnv, validateSpec } from "./spec.js";
import { serviceArgv, type TmuxOptions } from "./tmux.js";
import type { GeneratedFile, ServiceCommands, ServiceSpec } from "./types.js";

export interface LaunchdOptions {
  home: string;
  tmux?: TmuxOptions;
}

export function launchdPlist(spec: ServiceSpec, options: LaunchdOptions): GeneratedFile {
  validateSpec(spec);
  const env = serviceEnv(spec, "darwin");
  const logs = logPaths(spec);
  const content = plist.build({
    Label: spec.label,
    ProgramArguments: serviceArgv(spec, options.tmux),
    WorkingDirectory: spec.workingDirectory,
    EnvironmentVariables: env,
    RunAtLoad: true,
    // true rather than {SuccessfulExit:false}: the gateway is meant to be always on, and in tmux-pi
    // mode the supervisor exits 0 whenever pi exits (even on /quit), which SuccessfulExit:false
    // would never restart. `launchctl bootout` still stops it for good.
    KeepAlive: true,
    // Seconds launchd waits between respawns, so a crash loop (bad config, Redis down) doesn't spin.
    ThrottleInterval: 10,
    StandardOutPath: logs.stdout,
    StandardErrorPath: logs.stderr,
    // "Background" lets macOS throttle CPU and I/O and coalesce timers, which delays heartbeats and
    // replies to channels; the agent answers a human, so it gets the un-throttled "Interactive".
    ProcessType: "Interactive",
  });
  return {
    path: posix.join(options.home, "Library", "LaunchAgents", `${spec.label}.plist`),
    content,
    mode: fileModeFor(env),
    description: `launchd agent ${spec.label} (${spec.description})`,
  };
}

/**
 * bootstrap/bootout into the user's GUI domain (macOS 10.11+). On older macOS the equivalents are
 * `launchctl load -w <plist>` and `launchctl unload -w <plist>`.
 */
export function launchdCommands(file: GeneratedFile): ServiceCommands {
  const label = posix.basename(file.path, ".plist");
  const domain = "gui/$(id -u)"; // left unquoted on purpose: the shell substitutes the uid
  return {
    // bootstrap fails if the label is already loaded, so unload a previous version first.
    install: [`launchctl bootout ${domain}/${label} 2>/dev/null || true`, `launchctl bootstrap ${domain} ${shellQuote(file.path)}`],
    uninstall: [`launchctl bootout ${domain}/${label}`],
    status: [`launchctl print ${domain}/${label}`],
  };
}
