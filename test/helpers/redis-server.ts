/**
 * A private redis-server per test suite: a free loopback port, its own temp dir, optional AOF with
 * fsync on every write (what durability tests need). Never port 6379, never a user's data.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface RedisServer {
  url: string;
  port: number;
  dir: string;
  pid(): number;
  /** kill -9 (or another signal) and wait for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Start again on the same port and dir (AOF replays). */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: a frozen server looks like a network cut to clients. */
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => {
        const address = server.address();
        server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
      });
    });
    if (port !== 6379 && port > 0) return port;
  }
}

export interface RedisServerOptions {
  /** AOF with fsync on every write. */
  aof?: boolean;
  /** requirepass: clients must AUTH (redis://:password@...). */
  password?: string;
  /** Serve TLS only (rediss://), with a throwaway CA whose certificate is at `caFile`. */
  tls?: boolean;
  /** More server arguments, e.g. `--rename-command ZMSCORE ""` to stand in for an older Redis. */
  args?: string[];
}

export async function startRedis(options: RedisServerOptions = {}): Promise<RedisServer & { caFile?: string }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "pigw-redis-"));
  let child: ChildProcess | undefined;
  const caFile = options.tls ? makeCertificates(dir) : undefined;
  // The readiness probe speaks plain TCP, so a TLS server also gets a plain port on another number.
  const probePort = options.tls ? await freePort() : port;

  const launch = async () => {
    const args = ["--bind", "127.0.0.1", "--dir", dir, "--save", "", "--logfile", join(dir, "redis.log")];
    if (options.tls) {
      args.push("--port", String(probePort), "--tls-port", String(port), "--tls-cert-file", join(dir, "server.crt"), "--tls-key-file", join(dir, "server.key"));
      args.push("--tls-ca-cert-file", caFile!, "--tls-auth-clients", "no");
    } else args.push("--port", String(port));
    if (options.password) args.push("--requirepass", options.password);
    if (options.aof) args.push("--appendonly", "yes", "--appendfsync", "always");
    else args.push("--appendonly", "no");
    args.push(...(options.args ?? []));
    child = spawn("redis-server", args, { stdio: "ignore" });
    child.on("error", () => undefined);
    await waitForPing(probePort, 10_000);
  };
  await launch();

  const waitExit = (proc: ChildProcess | undefined) =>
    new Promise<void>((resolve) => {
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.once("exit", () => resolve());
    });

  const auth = options.password ? `:${encodeURIComponent(options.password)}@` : "";
  return {
    url: `${options.tls ? "rediss" : "redis"}://${auth}127.0.0.1:${port}`,
    caFile,
    port,
    dir,
    pid: () => child?.pid ?? -1,
    async kill(signal = "SIGKILL") {
      const proc = child;
      proc?.kill(signal);
      await waitExit(proc);
    },
    async restart() {
      await launch();
    },
    pause() {
      child?.kill("SIGSTOP");
    },
    resume() {
      child?.kill("SIGCONT");
    },
    async stop() {
      const proc = child;
      proc?.kill("SIGCONT");
      proc?.kill("SIGKILL");
      await waitExit(proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function waitForPing(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = new Socket();
      let data = "";
      socket.setTimeout(500);
      socket.once("error", () => resolve(false));
      socket.once("timeout", () => {
        socket.destroy();
        resolve(false);
      });
      socket.on("data", (chunk) => {
        data += chunk.toString();
        if (data.includes("\r\n")) {
          socket.destroy();
          // -NOAUTH also means "up and serving" for a password-protected server.
          resolve(data.startsWith("+PONG") || data.startsWith("-NOAUTH"));
        }
      });
      socket.connect(port, "127.0.0.1", () => socket.write("PING\r\n"));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs}ms`);
}

/** A throwaway CA and a server certificate for 127.0.0.1, made with openssl; returns the CA file. */
function makeCertificates(dir: string): string {
  const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
  run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=pi-gateway test CA", "-keyout", "ca.key", "-out", "ca.crt");
  run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr");
  writeFileSync(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt");
  return join(dir, "ca.crt");
}
