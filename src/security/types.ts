/** What the security audit reads (settings, a view of the file system) and what it reports. */

export type Severity = "pass" | "warn" | "fail" | "skip";

export type CheckId = "bind-vs-auth" | "token-strength" | "file-permissions" | "telegram-allowlist" | "redis-tls" | "redis-auth" | "webhooks";

export interface Finding {
  id: CheckId;
  title: string;
  status: Severity;
  detail: string;
  /** What to do about it (set on warn and fail). */
  fix?: string;
  /** The file a file-permissions finding is about. */
  path?: string;
}

export interface FileInfo {
  /** Permission bits (st_mode & 0o7777 is enough). */
  mode: number;
  uid: number;
  isDirectory: boolean;
}

/** How the audit sees the file system: injectable so tests need no real home. */
export interface AuditFiles {
  /** undefined when the path does not exist (or cannot be stat'ed). */
  stat(path: string): FileInfo | undefined;
  /** undefined when the file does not exist or cannot be read. */
  read(path: string): string | undefined;
  /** Entry names in a directory; [] when it does not exist. */
  list(dir: string): string[];
}

export interface AuditInput {
  /** The process environment (gateway.env is read through `files` and fills what this leaves unset). */
  env: Record<string, string | undefined>;
  /** The home directory whose setup is audited. */
  home: string;
  files: AuditFiles;
  /** The current user's uid; when undefined (e.g. Windows) ownership is not checked. */
  uid?: number;
}

export type Env = Record<string, string | undefined>;
