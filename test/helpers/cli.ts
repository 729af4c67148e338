/** Runs the built `pi-gateway` binary (the `bin` of package.json: the bundle in dist/bin), as a user would. */
import { spawn } from "node:child_process";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The built command, as package.json's `bin` names it. */
export const CLI_BIN = new URL("../../dist/bin/pi-gateway.js", import.meta.url).pathname;

export function runCli(args: string[], options: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], { env: { ...process.env, ...options.env }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`pi-gateway ${args.join(" ")} did not finish; stdout=${stdout} stderr=${stderr}`));
    }, options.timeoutMs ?? 20_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(options.input ?? "");
  });
}
