/** Modes and owners of the files that hold the gateway's settings and secrets. */
import { join } from "node:path";
import { parseEnvFile } from "../../config/env-file.js";
import { shellQuote } from "../../util/shell.js";
import { auditTokenFile, configDir } from "../locations.js";
import type { AuditInput, Env, FileInfo, Finding } from "../types.js";

const SECRET_NAME = /TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|PRIVATE|CREDENTIAL|AUTH|GATEWAY_HOOKS/i;
const NOT_A_SECRET = /_(FILE|PATH|DIR)$/i;
const URL_WITH_PASSWORD = /[a-z][a-z0-9+.-]*:\/\/[^/@\s"'<>]*:[^/@\s"'<>]+@/i;

/** Names of the secrets a KEY=VALUE set holds (never the values). */
function secretNames(values: Record<string, string>): string[] {
  const names: string[] = [];
  for (const [key, value] of Object.entries(values)) {
    if (!value) continue;
    if (SECRET_NAME.test(key) && !NOT_A_SECRET.test(key)) names.push(key);
    else if (URL_WITH_PASSWORD.test(value)) names.push(`${key} (password in URL)`);
  }
  return names;
}

/** Variables set in a launchd plist (<key>K</key><string>V</string>) or a systemd unit (Environment=K=V). */
function serviceFileValues(content: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const m of content.matchAll(/<key>([A-Za-z_][A-Za-z0-9_]*)<\/key>\s*<string>([^<]*)<\/string>/g)) values[m[1]!] = m[2]!;
  for (const m of content.matchAll(/^\s*Environment=(.*)$/gm)) {
    for (const w of m[1]!.matchAll(/"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g)) {
      const word = w[1] ?? w[2] ?? w[3] ?? "";
      const eq = word.indexOf("=");
      if (eq > 0) values[word.slice(0, eq)] = word.slice(eq + 1);
    }
  }
  return values;
}

function serviceSecrets(content: string): string[] {
  const names = secretNames(serviceFileValues(content));
  if (!names.length && URL_WITH_PASSWORD.test(content)) names.push("a URL with a password");
  return names;
}

function octal(mode: number): string {
  return (mode & 0o777).toString(8).padStart(3, "0");
}

function who(mode: number, bits: { group: number; other: number }): string {
  const parts: string[] = [];
  if (mode & bits.group) parts.push("group");
  if (mode & bits.other) parts.push("others");
  return parts.join(" and ");
}

function checkFile(path: string, label: string, info: FileInfo, secrets: string[] | "always", uid: number | undefined): Finding {
  const base = { id: "file-permissions" as const, title: `Permissions of ${label}`, path };
  const holds = secrets === "always" ? "" : secrets.length ? `; holds ${secrets.join(", ")}` : "; holds no secrets";
  const hasSecrets = secrets === "always" || secrets.length > 0;
  const readable = who(info.mode, { group: 0o040, other: 0o004 });
  const writable = who(info.mode, { group: 0o020, other: 0o002 });
  const chmod = `chmod 600 ${shellQuote(path)}`;
  if (writable) {
    return {
      ...base,
      status: "fail",
      detail: `${path} is mode ${octal(info.mode)}: writable by ${writable}, who could change what the gateway runs with${holds}`,
      fix: chmod,
    };
  }
  if (readable && hasSecrets) {
    return { ...base, status: "fail", detail: `${path} is mode ${octal(info.mode)}: readable by ${readable}${holds || "; it is a secret"}`, fix: chmod };
  }
  if (readable && label === "gateway.env") {
    return { ...base, status: "warn", detail: `${path} is mode ${octal(info.mode)}: readable by ${readable}${holds}, but it is where secrets go`, fix: chmod };
  }
  if (uid !== undefined && info.uid !== uid) {
    return {
      ...base,
      status: "warn",
      detail: `${path} is owned by uid ${info.uid}, not by you (uid ${uid}): its owner can change or read it`,
      fix: `sudo chown "$(id -un)" ${shellQuote(path)}`,
    };
  }
  return { ...base, status: "pass", detail: `${path}: mode ${octal(info.mode)}, yours${holds}` };
}

export function checkFilePermissions(env: Env, input: AuditInput, envFile: string | undefined): Finding[] {
  const { files, home, uid } = input;
  const dir = configDir(home);
  const findings = [checkConfigDir(dir, input)];
  if (envFile) {
    const info = files.stat(envFile);
    if (info && !info.isDirectory) {
      const text = files.read(envFile);
      findings.push(checkFile(envFile, "gateway.env", info, text === undefined ? "always" : secretNames(parseEnvFile(text)), uid));
    }
  }
  const tokenFile = auditTokenFile(env, home);
  const tokenInfo = files.stat(tokenFile);
  if (tokenInfo && !tokenInfo.isDirectory) findings.push(checkFile(tokenFile, "the token file", tokenInfo, "always", uid));
  findings.push(...checkServiceFiles(input));
  const found = findings.filter((finding): finding is Finding => finding !== undefined);
  if (!found.length) {
    found.push({
      id: "file-permissions",
      title: "Permissions of gateway files",
      status: "skip",
      detail: `nothing to check: no ${dir}, gateway.env, token file or service files`,
    });
  }
  return found;
}

/** The config directory should be 700 and yours (undefined when it does not exist). */
function checkConfigDir(dir: string, { files, uid }: AuditInput): Finding | undefined {
  const dirInfo = files.stat(dir);
  if (!dirInfo?.isDirectory) return undefined;
  const base = { id: "file-permissions" as const, title: "Permissions of the config directory", path: dir };
  const open = who(dirInfo.mode, { group: 0o070, other: 0o007 });
  if (open) {
    return {
      ...base,
      status: "warn",
      detail: `${dir} is mode ${octal(dirInfo.mode)}: ${open} can list${dirInfo.mode & 0o022 ? " and add or replace" : ""} its files (should be 700)`,
      fix: `chmod 700 ${shellQuote(dir)}`,
    };
  }
  if (uid !== undefined && dirInfo.uid !== uid) {
    return {
      ...base,
      status: "warn",
      detail: `${dir} is owned by uid ${dirInfo.uid}, not by you (uid ${uid})`,
      fix: `sudo chown "$(id -un)" ${shellQuote(dir)}`,
    };
  }
  return { ...base, status: "pass", detail: `${dir}: mode ${octal(dirInfo.mode)}` };
}

/** The launchd plists and systemd units setup wrote (they may carry secrets in their environment). */
function checkServiceFiles({ files, home, uid }: AuditInput): Finding[] {
  const serviceDirs: Array<[string, RegExp]> = [
    [join(home, "Library", "LaunchAgents"), /^dev\.pi-gateway\..+\.plist$/],
    [join(home, ".config", "systemd", "user"), /^dev\.pi-gateway\..+\.service$/],
  ];
  const findings: Finding[] = [];
  for (const [serviceDir, pattern] of serviceDirs) {
    for (const name of files
      .list(serviceDir)
      .filter((n) => pattern.test(n))
      .sort()) {
      const path = join(serviceDir, name);
      const info = files.stat(path);
      if (!info || info.isDirectory) continue;
      const text = files.read(path);
      findings.push(checkFile(path, `service file ${name}`, info, text === undefined ? "always" : serviceSecrets(text), uid));
    }
  }
  return findings;
}
