/**
 * The daemon's own redis-server, for a machine where nothing else runs Redis: loopback only, AOF
 * with fsync on every write (the command queue acknowledges an input once Redis has it; `always`
 * keeps that promise across a power cut, and the gateway writes far too little for the fsyncs to
 * matter), data under the gateway's state directory.
 *
 * It never outlives the daemon: redis-server runs under a tiny `sh` watcher whose stdin is a pipe
 * from the daemon. When the daemon exits for any reason (clean stop, crash, kill -9) the kernel
 * closes that pipe, the watcher reads end-of-file and stops redis-server with SIGTERM. The watcher
 * runs in its own process group, so a Ctrl-C meant for the daemon does not stop Redis under a turn
 * that is still finishing. A restart that finds the previous redis-server still shutting down
 * waits for it (and kills it if it hangs) before starting a new one on the same data.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { GatewayError } from "../bus/errors.js";
import { parseSetting } from "../config/resolve.js";
import { embeddedRedisDir, embeddedRedisRecordFile, readEmbeddedRedisRecord, type EmbeddedRedisRecord } from "../config/embedded-redis-record.js";
import { processAlive } from "../util/process.js";
import { findOnPath } from "./cli.js";
import { checkRedis } from "./redis-check.js";

type Env = Record<string, string | undefined>;

/** Tried first so the address stays the same from one start to the next; any free port otherwise. */
const EMBEDDED_REDIS_PORT = 6380;
const REDIS_INSTALL_HINT = "install it: apt-get install redis-server (Debian/Ubuntu) or brew install redis (macOS)";

export interface EmbeddedRedis {
  url: string;
  dataDir: string;
  pid: number;
  /** Stops redis-server (SIGTERM, so it closes the AOF cleanly) and waits for it. */
  stop(): Promise<void>;
  /** Called if redis-server exits while the daemon still needs it. */
  onUnexpectedExit(listener: (detail: string) => void): void;
}

// "$@" is redis-server and its arguments. fd 3 keeps the daemon's pipe: an asynchronous list gets
// /dev/null as stdin unless redirected explicitly.
const WATCHER = [
  "exec 3<&0",
  '"$@" </dev/null &',
  "pid=$!",
  'echo "$pid"',
  '( read -r _ <&3; kill -TERM "$pid" 2>/dev/null ) &',
  "watcher=$!",
  'wait "$pid"',
  "status=$?",
  'kill "$watcher" 2>/dev/null',
  'exit "$status"',
].join("\n");

export interface DaemonRedis {
  url: string;
  /** Set when the daemon started its own redis-server (it must stop it). */
  embedded?: EmbeddedRedis;
}

/**
 * The Redis the daemon uses: an explicit URL (--redis-url, REDIS_URL) as given, never replaced
 * (unreachable is then an error); else the default address if a Redis answers there; else an
 * embedded redis-server. `announce` gets the line saying so.
 */
export async function daemonRedis(explicitUrl: string | undefined, announce: (line: string) => void, env: Env = process.env): Promise<DaemonRedis> {
  if (explicitUrl) return { url: explicitUrl };
  // Another live daemon's embedded Redis is where every other command goes too: join it, so a
  // second daemon meets the first where they really compete (the session id's lease: refused with
  // the holder's name, or running beside it under another GATEWAY_ID).
  const shared = readEmbeddedRedisRecord(env);
  if (shared && shared.daemonPid !== process.pid && processAlive(shared.daemonPid) && processAlive(shared.pid)) {
    announce(`using the embedded redis-server of daemon pid ${shared.daemonPid} at ${shared.url} (it stops with that daemon)`);
    return { url: shared.url };
  }
  const address = defaultAddress(env);
  if (await somethingListens(address)) {
    const check = await checkRedis(address, 2_000);
    if (check.ok) return { url: address };
    // A Redis that wants a password is the user's Redis: starting a second one would hide the mistake.
    if (/NOAUTH|WRONGPASS|password/i.test(check.detail)) {
      throw new GatewayError(`the Redis at ${address} needs a password: set REDIS_URL=redis://:<password>@${new URL(address).host}`, "REDIS_AUTH");
    }
  }
  const embedded = await startEmbeddedRedis(env).catch((error: Error) => {
    throw error instanceof GatewayError ? new GatewayError(`no Redis at ${address}, and ${error.message}`, error.code) : error;
  });
  announce(`no Redis at ${address}; started an embedded redis-server on ${embedded.url} (data in ${embedded.dataDir})`);
  return { url: embedded.url, embedded };
}

/** The address probed before starting an embedded Redis (GATEWAY_DEFAULT_REDIS_URL: tests only). */
function defaultAddress(env: Env): string {
  return parseSetting("GATEWAY_DEFAULT_REDIS_URL", env.GATEWAY_DEFAULT_REDIS_URL);
}

/** Starts the embedded redis-server, replacing a leftover one of a crashed daemon. */
async function startEmbeddedRedis(env: Env = process.env): Promise<EmbeddedRedis> {
  const binary = findOnPath("redis-server", env.PATH ?? "");
  if (!binary) throw new GatewayError(`redis-server is not installed (not on PATH); ${REDIS_INSTALL_HINT}`, "NO_REDIS_SERVER");
  const dataDir = embeddedRedisDir(env);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o700);
  await replaceLeftover(dataDir, env);

  const port = await pickPort();
  const url = `redis://127.0.0.1:${port}`;
  const child = spawn("/bin/sh", ["-c", WATCHER, "sh", binary, ...redisArgs(port, dataDir)], {
    detached: true,
    stdio: ["pipe", "pipe", "ignore"],
  });
  const pid = await firstLineAsPid(child);
  await waitUntilServing(url, pid, dataDir);
  const record: EmbeddedRedisRecord = { url, pid, daemonPid: process.pid, dataDir, startedAt: Date.now() };
  writeRecord(embeddedRedisRecordFile(env), record);
  return handle(child, record, env);
}

function redisArgs(port: number, dataDir: string): string[] {
  return [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--protected-mode",
    "yes",
    "--dir",
    dataDir,
    "--appendonly",
    "yes",
    "--appendfsync",
    "always",
    "--save",
    "", // the AOF is the persistence; no RDB snapshots (forks) on top
    "--pidfile",
    join(dataDir, "redis.pid"),
    "--logfile",
    join(dataDir, "redis.log"),
    "--daemonize",
    "no",
  ];
}

function handle(child: ChildProcess, record: EmbeddedRedisRecord, env: Env): EmbeddedRedis {
  let stopping = false;
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    url: record.url,
    dataDir: record.dataDir,
    pid: record.pid,
    async stop() {
      stopping = true;
      child.stdin?.end(); // the watcher's cue, as if the daemon had died
      // unref: a pending 10 s timer must not keep the daemon's process alive after a quick stop
      const done = await Promise.race([exited.then(() => true), sleep(10_000, undefined, { ref: false }).then(() => false)]);
      if (!done && processAlive(record.pid)) signalQuietly(record.pid, "SIGKILL");
      rmSync(embeddedRedisRecordFile(env), { force: true });
    },
    onUnexpectedExit(listener) {
      void exited.then((code) => {
        if (!stopping) listener(`embedded redis-server exited (status ${code}); see ${join(record.dataDir, "redis.log")}`);
      });
    },
  };
}

/**
 * A daemon killed with -9 leaves its redis-server shutting down (its watcher saw the pipe close);
 * one whose watcher was killed too leaves it running. Either way: SIGTERM (a clean AOF close), wait,
 * SIGKILL if it hangs. Refuse only if the daemon that owns it is still alive.
 */
async function replaceLeftover(dataDir: string, env: Env): Promise<void> {
  const record = readEmbeddedRedisRecord(env);
  if (record && record.daemonPid !== process.pid && processAlive(record.daemonPid) && processAlive(record.pid)) {
    throw new GatewayError(
      `another pi-gateway daemon (pid ${record.daemonPid}) runs the embedded Redis at ${record.url}; stop it first, or set REDIS_URL=${record.url} to share it`,
      "EMBEDDED_REDIS_BUSY",
    );
  }
  const pid = leftoverPid(dataDir);
  if (pid === undefined) return;
  signalQuietly(pid, "SIGTERM");
  if (await exitedWithin(pid, 5_000)) return;
  signalQuietly(pid, "SIGKILL");
  if (!(await exitedWithin(pid, 2_000))) {
    throw new GatewayError(`a previous embedded redis-server (pid ${pid}) does not exit; stop it, then start the daemon again`, "EMBEDDED_REDIS_BUSY");
  }
}

async function exitedWithin(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (processAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

/** The pid in redis-server's pidfile if that process is a redis-server (pids get reused). */
function leftoverPid(dataDir: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(join(dataDir, "redis.pid"), "utf8").trim());
  } catch {
    return undefined; // removed by redis-server on a clean shutdown
  }
  if (!processAlive(pid)) return undefined;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("redis-server") ? pid : undefined;
  } catch {
    return pid; // no /proc (macOS): the pidfile in our own data dir is trusted
  }
}

async function pickPort(): Promise<number> {
  if (await portFree(EMBEDDED_REDIS_PORT)) return EMBEDDED_REDIS_PORT;
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

function firstLineAsPid(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once("line", (line) => {
      lines.close();
      const pid = Number(line.trim());
      if (Number.isInteger(pid) && pid > 0) resolve(pid);
      else reject(new Error(`could not start redis-server (watcher said "${line}")`));
    });
    child.once("error", (error) => reject(new Error(`could not start redis-server: ${error.message}`)));
  });
}

/** Until it answers PING; if it exits or stays silent, the error quotes the end of its log. */
async function waitUntilServing(url: string, pid: number, dataDir: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (!processAlive(pid)) break;
    if ((await checkRedis(url, 500)).ok) return;
    await sleep(50);
  }
  signalQuietly(pid, "SIGKILL");
  throw new GatewayError(`embedded redis-server did not start: ${logTail(dataDir)}`, "EMBEDDED_REDIS_FAILED");
}

function logTail(dataDir: string): string {
  try {
    const lines = readFileSync(join(dataDir, "redis.log"), "utf8").trim().split("\n");
    return lines.slice(-3).join(" | ") || "(empty log)";
  } catch {
    return "(no log written)";
  }
}

/** Written whole (temp file + rename): a reader never sees half a record. */
function writeRecord(file: string, record: EmbeddedRedisRecord): void {
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(record)}\n`, { mode: 0o600 });
  renameSync(temp, file);
}

/** Does anything accept a TCP connection at this redis:// address (quick: refused fails at once)? */
function somethingListens(url: string, timeoutMs = 1_000): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = createConnection({ host: hostname.replace(/^\[|\]$/g, ""), port: Number(port || 6379) });
    const done = (result: boolean) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/** A process that is already gone is fine. */
function signalQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // exited meanwhile
  }
}
