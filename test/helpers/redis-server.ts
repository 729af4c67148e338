/**
 * A private redis-server per test suite: a free loopback port, its own temp dir, optional AOF with
 * fsync on every write (what durability tests need). Never port 6379, never a user's data.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
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

export async function startRedis(options: { aof?: boolean } = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "pigw-redis-"));
  let child: ChildProcess | undefined;

  const launch = async () => {
    const args = ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--logfile", join(dir, "redis.log")];
    if (options.aof) args.push("--appendonly", "yes", "--appendfsync", "always");
    else args.push("--appendonly", "no");
    child = spawn("redis-server", args, { stdio: "ignore" });
    child.on("error", () => undefined);
    await waitForPing(port, 10_000);
  };
  await launch();

  const waitExit = (proc: ChildProcess | undefined) =>
    new Promise<void>((resolve) => {
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.once("exit", () => resolve());
    });

  return {
    url: `redis://127.0.0.1:${port}`,
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

async function waitForPing(port: number, timeoutMs: number): Promise<void> {
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
          resolve(data.startsWith("+PONG"));
        }
      });
      socket.connect(port, "127.0.0.1", () => socket.write("PING\r\n"));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs}ms`);
}
