/**
 * tmux gives pi the PTY its TUI needs and keeps it alive when the terminal closes. On its own it
 * does not restart pi; under launchd/systemd the supervisor script below does that job.
 */
import { shellJoin, shellQuote } from "../../util/shell.js";
import type { ServiceSpec } from "./types.js";
import { agentEnv } from "./spec.js";

export interface TmuxOptions {
  /** Session name; "agent" like the original design. */
  session?: string;
  /**
   * tmux -L socket. A dedicated server (default "pi-gateway") is started by our own command, so it
   * inherits the service environment; joining the user's default server would give pi that
   * server's older environment (no REDIS_URL...) and let `systemctl stop` miss it.
   */
  socketName?: string;
  width?: number;
  height?: number;
  /** Seconds between liveness checks in the supervisor loop. */
  pollSeconds?: number;
}

export const DEFAULT_TMUX_SESSION = "agent";
const DEFAULT_TMUX_SOCKET = "pi-gateway";

// tmux forbids ":" and "." in session names (they separate window and pane in targets).
const SESSION_NAME = /^[A-Za-z0-9_-]+$/;

function resolve(options: TmuxOptions) {
  const session = options.session ?? DEFAULT_TMUX_SESSION;
  const socketName = options.socketName ?? DEFAULT_TMUX_SOCKET;
  if (!SESSION_NAME.test(session)) throw new Error(`tmux session name "${session}" may only contain letters, digits, "_" and "-"`);
  if (!SESSION_NAME.test(socketName)) throw new Error(`tmux socket name "${socketName}" may only contain letters, digits, "_" and "-"`);
  return { session, socketName, width: options.width ?? 120, height: options.height ?? 40, pollSeconds: options.pollSeconds ?? 5 };
}

/** `tmux -L <socket>`, the prefix of every tmux command we emit. */
export function tmuxBase(options: TmuxOptions = {}): string[] {
  return ["tmux", "-L", resolve(options).socketName];
}

function newSession(spec: ServiceSpec, options: TmuxOptions, env: Record<string, string>): string {
  const { session, width, height } = resolve(options);
  const assignments = Object.entries(env).map(([key, value]) => `${key}=${value}`);
  // tmux runs this string with `$SHELL -c`; exec makes pi the pane's process, so kill-session
  // signals pi itself. `env` sets variables whatever the user's login shell is (fish, csh...).
  const inner = shellJoin(["exec", ...(assignments.length ? ["env", ...assignments] : []), spec.program, ...spec.args]);
  return shellJoin([...tmuxBase(options), "new-session", "-d", "-s", session, "-x", String(width), "-y", String(height), "-c", spec.workingDirectory, inner]);
}

/**
 * The command line that starts the detached session by hand (the "tmux" manager). The environment is
 * written into the command because nothing else provides it; it is visible in shell history and,
 * briefly, in `ps`, so prefer launchd/systemd for secrets.
 */
export function tmuxCommand(spec: ServiceSpec, options: TmuxOptions = {}): string {
  // No PATH: the interactive PATH of whoever runs this is better than our guess.
  return newSession(spec, options, agentEnv(spec));
}

/**
 * The `/bin/sh -c` script launchd/systemd run in tmux-pi mode: start the session unless it already
 * exists, then stay alive as long as it does. When pi exits the session ends, the script exits and
 * the service manager restarts it. Variables come from the service environment (inherited by the
 * tmux server this script starts), so no secret appears on a long-lived command line.
 */
export function tmuxSupervisorScript(spec: ServiceSpec, options: TmuxOptions = {}): string {
  const { session, pollSeconds } = resolve(options);
  const tmux = shellJoin(tmuxBase(options));
  // "=name" matches the session exactly; a bare name also matches any session it prefixes.
  const target = shellQuote(`=${session}`);
  return [
    // Adopting a session that survived the supervisor (launchd kills only the job's process group,
    // and tmux's server leaves it) avoids the original `new-session && ...` failing forever on
    // "duplicate session".
    `${tmux} has-session -t ${target} 2>/dev/null || ${newSession(spec, options, {})} || exit 1`,
    `while ${tmux} has-session -t ${target} 2>/dev/null; do sleep ${pollSeconds}; done`,
  ].join("; ");
}

/** What launchd/systemd run: the program itself, or in tmux-pi mode the supervisor shell. */
export function serviceArgv(spec: ServiceSpec, options: TmuxOptions = {}): string[] {
  return spec.mode === "tmux-pi" ? ["/bin/sh", "-c", tmuxSupervisorScript(spec, options)] : [spec.program, ...spec.args];
}
