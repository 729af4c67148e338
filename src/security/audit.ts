/**
 * `pi-gateway security audit`, the logic: the gateway's settings as the daemon would run them
 * (environment first, then gateway.env), checked for exposure and weak secrets. Pure apart from the
 * file view the caller hands in, so tests never touch a real home. No finding ever contains a secret:
 * tokens are described by length and estimated strength, Redis URLs are shown with the password masked.
 */
import { join } from "node:path";
import { isLoopbackHost } from "../channels/http/server.js";
import { listenAddress, tokenFile } from "../daemon/config.js";
import { gatewayConfigDir, gatewayEnvFile, mergeEnvFile, parseEnvFile } from "../config/env-file.js";
import { DEFAULT_BUS_OPTIONS } from "../config/bus-options.js";
import { checkSetting } from "../config/resolve.js";
import { shellQuote } from "../util/shell.js";
import { redactUrl } from "../bus/connection.js";

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

type Env = Record<string, string | undefined>;

export const MIN_TOKEN_LENGTH = 24;
export const MIN_TOKEN_BITS = 100;
export const MIN_HOOK_SECRET_LENGTH = 16;

/** The environment as the gateway would see it: variables already set win over gateway.env. */
export function effectiveEnv(input: AuditInput): { env: Env; envFile?: string; envFileLoaded: boolean } {
  const env: Env = { ...input.env };
  const envFile = gatewayEnvFile(input.env, input.home);
  const text = envFile ? input.files.read(envFile) : undefined;
  if (text !== undefined) mergeEnvFile(env, text);
  return { env, envFile, envFileLoaded: text !== undefined };
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

// ---------------------------------------------------------------------------------------- token

interface TokenState {
  /** The token value (never printed). */
  value?: string;
  /** Where it comes from: "GATEWAY_TOKEN" or the token file's path. */
  source: string;
  /** The token file the daemon would use (or create). */
  file: string;
  /** Why there is no usable token. */
  problem?: "missing" | "empty" | "unreadable";
}

function resolveAuditToken(env: Env, input: AuditInput): TokenState {
  const file = tokenFile(env, input.home);
  const fromEnv = checkSetting("GATEWAY_TOKEN", env.GATEWAY_TOKEN).value;
  if (fromEnv) return { value: fromEnv, source: "GATEWAY_TOKEN", file };
  if (!input.files.stat(file)) return { source: file, file, problem: "missing" };
  const text = input.files.read(file);
  if (text === undefined) return { source: file, file, problem: "unreadable" };
  const value = text.trim();
  return value ? { value, source: file, file } : { source: file, file, problem: "empty" };
}

/** Estimated entropy in bits: length × log2(size of the character classes used). */
export function estimateTokenBits(token: string): number {
  if (!token) return 0;
  let charset: number;
  if (/^[0-9a-f]+$/.test(token) || /^[0-9A-F]+$/.test(token)) {
    charset = /^[0-9]+$/.test(token) ? 10 : 16;
  } else {
    charset = 0;
    if (/[a-z]/.test(token)) charset += 26;
    if (/[A-Z]/.test(token)) charset += 26;
    if (/[0-9]/.test(token)) charset += 10;
    if (/[^a-zA-Z0-9]/.test(token)) charset += 32;
  }
  return Math.floor([...token].length * Math.log2(charset));
}

const WEAK_WORDS = ["changeme", "password", "passwd", "secret", "token", "letmein", "qwerty", "admin", "default", "example", "gateway", "hunter2", "123456", "abcdef"];

/** Why a token is weak, or [] when it is not. Never includes the token itself. */
export function tokenWeaknesses(token: string): string[] {
  const reasons: string[] = [];
  const chars = [...token];
  const bits = estimateTokenBits(token);
  if (chars.length < MIN_TOKEN_LENGTH) reasons.push(`shorter than ${MIN_TOKEN_LENGTH} characters`);
  const distinct = new Set(chars).size;
  if (distinct === 1) reasons.push("a single repeated character");
  else if (distinct < 8) reasons.push(`only ${distinct} distinct characters`);
  else if (/^(.+?)\1+$/s.test(token)) reasons.push("a repeated pattern");
  const lower = token.toLowerCase();
  const word = WEAK_WORDS.find((w) => lower.includes(w));
  if (word) reasons.push(`contains a guessable word ("${word}")`);
  let steps = 0;
  for (let i = 1; i < chars.length; i++) {
    if (Math.abs(chars[i]!.codePointAt(0)! - chars[i - 1]!.codePointAt(0)!) === 1) steps++;
  }
  if (chars.length > 2 && steps / (chars.length - 1) > 0.5) reasons.push("mostly a run of consecutive characters");
  if (bits < MIN_TOKEN_BITS) reasons.push(`fewer than ${MIN_TOKEN_BITS} bits`);
  return reasons;
}

const NEW_TOKEN_FIX = (file: string) =>
  `generate a random one: (umask 077; openssl rand -base64 32 > ${shellQuote(file)}) and unset GATEWAY_TOKEN, or set GATEWAY_TOKEN to such a value; then restart the daemon and update your clients`;

function checkTokenStrength(token: TokenState): Finding {
  const base = { id: "token-strength" as const, title: "Gateway token strength" };
  if (!token.value) {
    if (token.problem === "empty") {
      return { ...base, status: "fail", detail: `the token file ${token.source} is empty: the daemon refuses to start`, fix: NEW_TOKEN_FIX(token.source) };
    }
    if (token.problem === "unreadable") {
      return { ...base, status: "warn", detail: `the token file ${token.source} exists but cannot be read by this user`, fix: `check its owner and mode (ls -l ${shellQuote(token.source)})` };
    }
    return {
      ...base,
      status: "warn",
      detail: `no token yet: GATEWAY_TOKEN is not set and ${token.source} does not exist; it is created (32 random bytes, mode 600) on first start of the daemon`,
      fix: `start the daemon once (pi-gateway daemon) or create it now: (umask 077; openssl rand -base64 32 > ${shellQuote(token.source)})`,
    };
  }
  const length = [...token.value].length;
  const bits = estimateTokenBits(token.value);
  const where = token.source === "GATEWAY_TOKEN" ? "GATEWAY_TOKEN" : `token file ${token.source}`;
  const weak = tokenWeaknesses(token.value);
  if (weak.length) {
    return {
      ...base,
      status: "fail",
      detail: `${where}: ${length} characters, about ${bits} bits estimated; weak: ${weak.join(", ")}. It guards the WebSocket (prompting your agent), POST /events and the webhooks`,
      fix: NEW_TOKEN_FIX(token.file),
    };
  }
  return { ...base, status: "pass", detail: `${where}: ${length} characters, about ${bits} bits estimated` };
}

// ----------------------------------------------------------------------------------- bind vs auth

/** 100.64.0.0/10 (Tailscale's CGNAT range), fd7a:115c:a1e0::/48 and MagicDNS names (*.ts.net). */
export function isTailscaleHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, "").replace(/\.$/, "");
  if (h.endsWith(".ts.net")) return true;
  if (h.startsWith("fd7a:115c:a1e0:")) return true;
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  if (!m) return false;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a === 100 && b >= 64 && b <= 127;
}

function isWildcardHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, "");
  return h === "0.0.0.0" || h === "::" || h === "0:0:0:0:0:0:0:0" || h === "";
}

function checkBind(env: Env, token: TokenState): Finding {
  const base = { id: "bind-vs-auth" as const, title: "Network exposure" };
  // The daemon's own rule, so the audit reports the socket the daemon really opens.
  let host: string;
  let port: string;
  try {
    const address = listenAddress(env);
    host = address.host;
    port = String(address.port);
  } catch (error) {
    return { ...base, status: "fail", detail: `${(error as Error).message}: the daemon refuses to start`, fix: "correct it as the message says, or leave it empty for the default (127.0.0.1:8787)" };
  }
  if (isLoopbackHost(host)) {
    return { ...base, status: "pass", detail: `listens on ${host}:${port} (loopback): reachable from this machine only` };
  }
  const where = isWildcardHost(host)
    ? `listens on ${host}:${port}, i.e. on every network interface: reachable from any network this machine joins (café Wi-Fi included)`
    : isTailscaleHost(host)
      ? `listens on ${host}:${port}, a Tailscale address: reachable from your tailnet`
      : `listens on ${host}:${port}: reachable beyond this machine`;
  const stayLocal = "keep GATEWAY_HOST=127.0.0.1 and reach it through an SSH tunnel (ssh -L 8787:127.0.0.1:8787 this-host)";
  if (!token.value) {
    return {
      ...base,
      status: "fail",
      detail: `${where}, and no gateway token exists yet (GATEWAY_TOKEN unset, ${token.source} ${token.problem ?? "missing"}); the HTTP server refuses to listen beyond loopback without one`,
      fix: `create the token before exposing the gateway: (umask 077; openssl rand -base64 32 > ${shellQuote(token.source)}), or ${stayLocal}`,
    };
  }
  if (isTailscaleHost(host)) {
    return { ...base, status: "pass", detail: `${where} only (WireGuard-encrypted), token required` };
  }
  return {
    ...base,
    status: "warn",
    detail: `${where}; the token is required, but it and every message cross the network as plain HTTP`,
    fix: `bind a Tailscale address instead (GATEWAY_HOST=$(tailscale ip -4)), or ${stayLocal}`,
  };
}

// -------------------------------------------------------------------------------- file permissions

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
    return { ...base, status: "fail", detail: `${path} is mode ${octal(info.mode)}: writable by ${writable}, who could change what the gateway runs with${holds}`, fix: chmod };
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

function checkFilePermissions(env: Env, input: AuditInput, envFile: string | undefined): Finding[] {
  const { files, home, uid } = input;
  const findings: Finding[] = [];
  const dir = gatewayConfigDir(home);
  const dirInfo = files.stat(dir);
  if (dirInfo?.isDirectory) {
    const open = who(dirInfo.mode, { group: 0o070, other: 0o007 });
    if (open) {
      findings.push({
        id: "file-permissions",
        title: "Permissions of the config directory",
        path: dir,
        status: "warn",
        detail: `${dir} is mode ${octal(dirInfo.mode)}: ${open} can list${dirInfo.mode & 0o022 ? " and add or replace" : ""} its files (should be 700)`,
        fix: `chmod 700 ${shellQuote(dir)}`,
      });
    } else if (uid !== undefined && dirInfo.uid !== uid) {
      findings.push({ id: "file-permissions", title: "Permissions of the config directory", path: dir, status: "warn", detail: `${dir} is owned by uid ${dirInfo.uid}, not by you (uid ${uid})`, fix: `sudo chown "$(id -un)" ${shellQuote(dir)}` });
    } else {
      findings.push({ id: "file-permissions", title: "Permissions of the config directory", path: dir, status: "pass", detail: `${dir}: mode ${octal(dirInfo.mode)}` });
    }
  }
  if (envFile) {
    const info = files.stat(envFile);
    if (info && !info.isDirectory) {
      const text = files.read(envFile);
      findings.push(checkFile(envFile, "gateway.env", info, text === undefined ? "always" : secretNames(parseEnvFile(text)), uid));
    }
  }
  const tokenPath = tokenFile(env, home);
  const tokenInfo = files.stat(tokenPath);
  if (tokenInfo && !tokenInfo.isDirectory) findings.push(checkFile(tokenPath, "the token file", tokenInfo, "always", uid));

  const serviceDirs: Array<[string, RegExp]> = [
    [join(home, "Library", "LaunchAgents"), /^dev\.pi-gateway\..+\.plist$/],
    [join(home, ".config", "systemd", "user"), /^dev\.pi-gateway\..+\.service$/],
  ];
  for (const [serviceDir, pattern] of serviceDirs) {
    for (const name of files.list(serviceDir).filter((n) => pattern.test(n)).sort()) {
      const path = join(serviceDir, name);
      const info = files.stat(path);
      if (!info || info.isDirectory) continue;
      const text = files.read(path);
      findings.push(checkFile(path, `service file ${name}`, info, text === undefined ? "always" : serviceSecrets(text), uid));
    }
  }
  if (!findings.length) {
    findings.push({ id: "file-permissions", title: "Permissions of gateway files", status: "skip", detail: `nothing to check: no ${dir}, gateway.env, token file or service files` });
  }
  return findings;
}

// ------------------------------------------------------------------------------------- telegram

function checkTelegram(env: Env): Finding {
  const base = { id: "telegram-allowlist" as const, title: "Telegram allowlist" };
  if (!checkSetting("TELEGRAM_BOT_TOKEN", env.TELEGRAM_BOT_TOKEN).value) return { ...base, status: "skip", detail: "Telegram is not configured (TELEGRAM_BOT_TOKEN unset)" };
  const userList = checkSetting("TELEGRAM_ALLOWED_USERS", env.TELEGRAM_ALLOWED_USERS);
  const chatList = checkSetting("TELEGRAM_ALLOWED_CHATS", env.TELEGRAM_ALLOWED_CHATS);
  const problems = [userList.problem, chatList.problem].filter(Boolean);
  if (problems.length) {
    return { ...base, status: "fail", detail: `${problems.join("; ")}: the daemon refuses to start`, fix: "use numeric ids (your user id: message @userinfobot), comma-separated" };
  }
  const users = userList.value ?? [];
  const chats = chatList.value ?? [];
  if (!users.length && !chats.length) {
    return {
      ...base,
      status: "fail",
      detail:
        "TELEGRAM_BOT_TOKEN is set but neither TELEGRAM_ALLOWED_USERS nor TELEGRAM_ALLOWED_CHATS is: the channel fails closed and answers nobody, so the bot is useless " +
        "(and without an allowlist anyone who finds the bot could talk to your agent, should that ever change)",
      fix: "set TELEGRAM_ALLOWED_USERS=<your numeric user id> (message @userinfobot to learn it) in gateway.env, or unset TELEGRAM_BOT_TOKEN",
    };
  }
  const groups = chats.filter((c) => c < 0);
  const summary = `${users.length} allowed user(s), ${chats.length} allowed chat(s)`;
  if (groups.length) {
    return {
      ...base,
      status: "warn",
      detail: `${summary}; ${groups.length} of the chats are groups: every member of them can talk to your agent`,
      fix: "prefer TELEGRAM_ALLOWED_USERS (specific people) over whole group chats",
    };
  }
  return { ...base, status: "pass", detail: summary };
}

// ---------------------------------------------------------------------------------------- redis

function checkRedis(env: Env): Finding[] {
  const raw = env.REDIS_URL?.trim() || DEFAULT_BUS_OPTIONS.redisUrl;
  const tls = { id: "redis-tls" as const, title: "Redis transport" };
  const auth = { id: "redis-auth" as const, title: "Redis authentication" };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return [{ ...tls, status: "fail", detail: `REDIS_URL is not a valid URL (${redactUrl(raw)})`, fix: "use redis://[:password@]host[:port][/db] or rediss:// for TLS" }];
  }
  const shown = redactUrl(raw);
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
    return [{ ...tls, status: "fail", detail: `REDIS_URL ${shown}: unknown scheme ${url.protocol}`, fix: "use redis:// or rediss:// (TLS)" }];
  }
  const host = url.hostname || "127.0.0.1";
  const loopback = isLoopbackHost(host);
  const tailscale = isTailscaleHost(host);
  const findings: Finding[] = [];
  if (loopback) {
    findings.push({ ...tls, status: "pass", detail: `${shown}: loopback, the traffic never leaves this machine` });
  } else if (url.protocol === "rediss:") {
    findings.push({ ...tls, status: "pass", detail: `${shown}: TLS${env.GATEWAY_REDIS_CA_FILE ? ` (CA ${env.GATEWAY_REDIS_CA_FILE})` : ""}` });
  } else if (tailscale) {
    findings.push({
      ...tls,
      status: "warn",
      detail: `${shown}: plain redis:// to a Tailscale address; WireGuard encrypts it in transit, but any tailnet device that reaches the port talks to Redis directly`,
      fix: "use rediss:// (TLS) or restrict the port with Tailscale ACLs to this machine",
    });
  } else {
    findings.push({
      ...tls,
      status: "fail",
      detail: `${shown}: plain redis:// to ${host}, beyond this machine: traffic including event payloads and the password travels in clear text`,
      fix: "use rediss:// (TLS; GATEWAY_REDIS_CA_FILE for a private CA), or reach Redis over Tailscale or an SSH tunnel (ssh -L 6379:127.0.0.1:6379 <redis-host>, then REDIS_URL=redis://127.0.0.1:6379)",
    });
  }
  if (loopback) {
    findings.push({ ...auth, status: "pass", detail: url.password ? "password set" : "no password, but loopback only" });
  } else if (!url.password) {
    findings.push({
      ...auth,
      status: "warn",
      detail: `${shown} has no password: whoever reaches ${host}:${url.port || "6379"} can read the queues and push events (which become prompts to your agent)`,
      fix: "set requirepass (or an ACL user) on the Redis server and put it in REDIS_URL: redis://:<password>@host or redis://<user>:<password>@host",
    });
  } else {
    findings.push({ ...auth, status: "pass", detail: `password set${url.username ? ` (user ${url.username})` : ""}` });
  }
  return findings;
}

// ------------------------------------------------------------------------------------- webhooks

function checkWebhooks(env: Env): Finding[] {
  const base = { id: "webhooks" as const };
  const { value: hooks, problem } = checkSetting("GATEWAY_HOOKS", env.GATEWAY_HOOKS);
  if (problem) return [{ ...base, title: "Webhooks", status: "fail", detail: `${problem}: the daemon refuses to start`, fix: `fix it, e.g. GATEWAY_HOOKS='{"github":{"secret":"<random>"}}'` }];
  if (!hooks) return [{ ...base, title: "Webhooks", status: "skip", detail: "no webhooks configured (GATEWAY_HOOKS unset)" }];
  const entries = Object.entries(hooks);
  if (!entries.length) return [{ ...base, title: "Webhooks", status: "skip", detail: "GATEWAY_HOOKS is empty" }];
  const newSecret = "openssl rand -hex 32";
  return entries.map(([name, value]): Finding => {
    const title = `Webhook "${name}"`;
    const { secret, token } = value;
    if (!secret && !token) {
      return {
        ...base,
        title,
        status: "fail",
        detail: `POST /hooks/${name} has no secret (HMAC) or token of its own: only the gateway token opens it, so its sender would need the master key to your agent (WebSocket prompts included)`,
        fix: `give it an HMAC secret: "${name}":{"secret":"<${newSecret}>"} in GATEWAY_HOOKS, and the same secret in the sender's webhook settings`,
      };
    }
    const short = [secret && secret.length < MIN_HOOK_SECRET_LENGTH ? `the secret is ${secret.length} characters` : "", token && token.length < MIN_HOOK_SECRET_LENGTH ? `the token is ${token.length} characters` : ""].filter(Boolean);
    if (short.length) {
      return { ...base, title, status: "warn", detail: `${short.join(", ")} (fewer than ${MIN_HOOK_SECRET_LENGTH}): guessable`, fix: `use a random value: ${newSecret}` };
    }
    if (!secret) {
      return {
        ...base,
        title,
        status: "warn",
        detail: `bearer token only: it travels with every request and a captured request can be replayed or altered`,
        fix: `prefer an HMAC secret ("secret" in GATEWAY_HOOKS; the sender signs each body with X-Hub-Signature-256, the secret never travels)`,
      };
    }
    return { ...base, title, status: "pass", detail: `HMAC secret (${secret.length} characters)${token ? " and a bearer token" : ""}` };
  });
}
