/**
 * What every CLI command shares: global options, connecting to Redis, printing human or JSON
 * output, and turning failures into one clear line with a non-zero exit.
 */
import type { Command } from "commander";
import { GatewayBus } from "../bus/bus.js";
import { GatewayError } from "../bus/errors.js";
import { parseDuration } from "../config/duration.js";

export interface GlobalOptions {
  redisUrl?: string;
  prefix?: string;
  json?: boolean;
  timeout?: string;
}

export function globalOptions(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

export async function connectBus(options: GlobalOptions): Promise<GatewayBus> {
  return GatewayBus.connect({
    name: "pi-gateway:cli",
    redisUrl: options.redisUrl,
    prefix: options.prefix,
    connectTimeoutMs: options.timeout ? parseDuration(options.timeout) : undefined,
  });
}

/** Runs a command body with a connected bus and always closes it. */
export async function withBus<T>(options: GlobalOptions, body: (bus: GatewayBus) => Promise<T>): Promise<T> {
  const bus = await connectBus(options);
  try {
    return await body(bus);
  } finally {
    await bus.close();
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function print(line = ""): void {
  process.stdout.write(`${line}\n`);
}

/** A user error: bad flag value, bad payload... exits with status 2 like commander's own usage errors. */
export class UsageError extends GatewayError {
  constructor(message: string) {
    super(message, "USAGE");
  }
}

/** Wraps an action so any failure becomes one line (or a JSON object) and a non-zero exit. */
export function action<A extends unknown[]>(body: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await body(...args);
    } catch (error) {
      const command = args[args.length - 1] as Command;
      const json = Boolean(command?.optsWithGlobals?.().json);
      const message = oneLine(error instanceof Error ? error.message : String(error));
      const code = error instanceof GatewayError ? error.code : "ERROR";
      if (json) printJson({ error: message, code });
      else process.stderr.write(`pi-gateway: ${message}\n`);
      process.exitCode = code === "USAGE" ? 2 : 1;
    }
  };
}

/**
 * Error messages may quote user input (JSON.parse does): keep them on one line and never pass
 * control characters (escape sequences) through to the terminal.
 */
export function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\r?\n/g, "⏎").replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** Formats a table with aligned columns. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}

export function ago(ms: number | null | undefined, now = Date.now()): string {
  if (!ms) return "never";
  const diff = Math.max(0, now - ms);
  if (diff < 1_000) return "just now";
  if (diff < 60_000) return `${Math.round(diff / 1_000)}s ago`;
  if (diff < 3_600_000) return `${Math.round(diff / 60_000)}m ago`;
  if (diff < 86_400_000) return `${Math.round(diff / 3_600_000)}h ago`;
  return `${Math.round(diff / 86_400_000)}d ago`;
}
