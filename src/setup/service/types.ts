/**
 * What `pi-gateway setup` asks for, independent of the service manager that will keep it running.
 */

/**
 * "daemon": runs `pi-gateway daemon` directly; it embeds pi as a library, so no terminal is needed.
 * "tmux-pi": runs an interactive `pi` (GATEWAY_ROLE=central) inside a detached tmux session,
 * because pi's TUI needs a PTY; a supervisor shell stays alive while the session exists so the
 * service manager restarts everything when pi exits.
 */
export type ServiceMode = "daemon" | "tmux-pi";

export interface ServiceSpec {
  /** Reverse-DNS id, e.g. "dev.pi-gateway.agent": the launchd Label and the systemd unit name. */
  label: string;
  description: string;
  /** Absolute path of the executable, e.g. node (daemon) or pi (tmux-pi). */
  program: string;
  args: string[];
  workingDirectory: string;
  env: Record<string, string>;
  /** Absolute directory for stdout/stderr logs; it must exist before the service starts. */
  logDir: string;
  mode: ServiceMode;
}

export interface GeneratedFile {
  /** Absolute path where the file must be written. */
  path: string;
  content: string;
  /** 0o644, or 0o600 when the content carries secrets (tokens, passwords in URLs). */
  mode: number;
  description: string;
}

/** Shell command lines (for a POSIX shell) that install, remove and inspect a service. */
export interface ServiceCommands {
  install: string[];
  uninstall: string[];
  status: string[];
}

export type Platform = "darwin" | "linux";
