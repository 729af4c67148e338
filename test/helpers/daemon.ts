/** Runs `pi-gateway daemon` (the built binary) as a child process, as a service manager would. */
import { spawn, type ChildProcess } from "node:child_process";
import { CLI_BIN } from "./cli.js";
import { setTimeout as sleep } from "node:timers/promises";

export interface DaemonProcess {
  url: string;
  child: ChildProcess;
  output(): string;
  /** SIGTERM and wait for the exit (graceful shutdown). */
  stop(): Promise<number | null>;
  /** kill -9. */
  kill(): Promise<void>;
}

export async function startDaemon(env: Record<string, string>, args: string[] = [], timeoutMs = 20_000): Promise<DaemonProcess> {
  const child = spawn(process.execPath, [CLI_BIN, "daemon", "--port", "0", ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  // "exit" can come before the last output has been read: wait for both pipes to end too (briefly,
  // in case a grandchild such as an embedded redis-server still holds them).
  const drained = (stream: NodeJS.ReadableStream) => new Promise<void>((resolve) => stream.once("end", resolve));
  const outputRead = Promise.all([drained(child.stdout), drained(child.stderr)]);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => void Promise.race([outputRead, sleep(1_000)]).then(() => resolve(code))));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL"); // never leave a half-started daemon behind
      reject(new Error(`daemon did not start within ${timeoutMs}ms:\n${out}`));
    }, timeoutMs);
    const check = () => {
      const match = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout.on("data", check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited with ${code} before listening:\n${out}`));
    });
  });
  return {
    url,
    child,
    output: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill("SIGTERM");
      return exited;
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGKILL");
      await exited;
    },
  };
}
