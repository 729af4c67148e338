/**
 * What every CLI command shares: global options, connecting to Redis, printing human or JSON
 * output, and turning failures into one clear line with a non-zero exit.
 */
import type { Command } from "commander";
import { GatewayBus } from "../bus/bus.js";
import { GatewayError, RedisUnreachableError, type NotAcknowledgedError } from "../bus/errors.js";
import { parseRedisUrl, type BusOptions } from "../config/bus-options.js";
import { formatDuration } from "../config/duration.js";
import { ConfigError } from "../config/errors.js";
import { parseSetting } from "../config/resolve.js";
import { safeJson, UNSAFE_CHARACTERS } from "../util/text.js";

export interface GlobalOptions {
  redisUrl?: string;
  prefix?: string;
  json?: boolean;
  timeout?: string;
}

export function globalOptions(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

/**
 * The bus settings the global flags give, checked before anything connects: a bad --redis-url or
 * --timeout is a usage error naming the flag.
 */
export function busOverrides(options: GlobalOptions): Partial<BusOptions> {
  return {
    redisUrl: options.redisUrl === undefined ? undefined : parseRedisUrl(options.redisUrl, "--redis-url"),
    prefix: options.prefix === undefined ? undefined : parseSetting("GATEWAY_PREFIX", options.prefix, "--prefix"),
    connectTimeoutMs: options.timeout === undefined ? undefined : parseSetting("GATEWAY_CONNECT_TIMEOUT", options.timeout, "--timeout"),
  };
}

export async function connectBus(options: GlobalOptions): Promise<GatewayBus> {
  return GatewayBus.connect({ name: "pi-gateway:cli", ...busOverrides(options) });
}

/** Runs a command body with a connected bus and always closes it. */
export async function withBus<T>(options: GlobalOptions, body: (bus: GatewayBus) => Promise<T>): Promise<T> {
  return useBus(await connectBus(options), body);
}

/** A producer still waiting for Redis says so this soon after its start (see withBusRetrying). */
const NOTICE_WITHIN_MS = 700;
const NOTICE_FLOOR_MS = 300;

/**
 * Like withBus, for a producer: while Redis is unreachable it keeps trying for `window`, says so
 * at once on stderr (naming the setting that gave the window), and if Redis never answers ends
 * with the same one-line hint as every other command. The body gets the time left in the window
 * and the notice, for Redis going away after the connection (said once either way).
 */
export async function withBusRetrying<T>(
  options: GlobalOptions,
  window: { ms: number; from: string },
  body: (bus: GatewayBus, retry: { remainingMs: number; onWait: (error: RedisUnreachableError | NotAcknowledgedError) => void }) => Promise<T>,
): Promise<T> {
  const deadline = Date.now() + window.ms;
  const tried = `kept trying for ${formatDuration(window.ms)}, the ${window.from} window; nothing sent`;
  let told = false;
  const onWait = (error: RedisUnreachableError | NotAcknowledgedError) => {
    if (!told) process.stderr.write(`pi-gateway: ${error.summary}; retrying for ${formatDuration(window.ms)} (${window.from})…\n`);
    told = true;
  };
  // The user counts from pressing enter: the notice comes within NOTICE_WITHIN_MS of the process
  // start (node's own start-up included) when the machine allows, and never sooner than
  // NOTICE_FLOOR_MS into the connection: on a busy machine a healthy local Redis can take a few
  // hundred ms to answer, and "did not answer" would then be wrong.
  const noticeAfterMs = Math.max(NOTICE_FLOOR_MS, NOTICE_WITHIN_MS - performance.now());
  const bus = await GatewayBus.connectRetrying({ name: "pi-gateway:cli", ...busOverrides(options) }, window.ms, onWait, noticeAfterMs).catch(
    (error: unknown) => {
      throw error instanceof RedisUnreachableError && window.ms > 0 && error.retryable ? error.withNote(tried) : error;
    },
  );
  return useBus(bus, (connected) => body(connected, { remainingMs: Math.max(0, deadline - Date.now()), onWait }));
}

async function useBus<T>(bus: GatewayBus, body: (bus: GatewayBus) => Promise<T>): Promise<T> {
  try {
    return await body(bus);
  } finally {
    await bus.close();
  }
}

/** JSON on stdout; C1 controls and bidi overrides inside strings as \u escapes (the same JSON, safe on a terminal). */
export function printJson(value: unknown): void {
  process.stdout.write(`${safeJson(value, 2)}\n`);
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

/** Runs a parser/validator and turns its error into a usage error (exit 2), naming the input. */
export function usage<T>(fn: () => T, what?: string): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof UsageError || !(error instanceof Error)) throw error;
    throw new UsageError(what ? `${what}: ${error.message}` : error.message);
  }
}

/** The exit statuses, as documented in the README and in `pi-gateway --help`. */
export const EXIT = { ok: 0, failure: 1, usage: 2, redisUnreachable: 3 } as const;

export const EXIT_CODES_HELP = `
Exit status:
  0  success
  1  failure (a check failed, the daemon refused a token, an unknown session...)
  2  usage error: unknown command or flag, missing argument, bad flag or setting value
  3  Redis unreachable: refused, no answer, wrong password or TLS trouble (one line says which)
`;

export function exitCodeFor(error: unknown): number {
  if (error instanceof RedisUnreachableError) return EXIT.redisUnreachable;
  if (error instanceof ConfigError || (error instanceof GatewayError && error.code === "USAGE")) return EXIT.usage;
  return EXIT.failure;
}

/** One line on stderr, or `{"error", "code"}` on stdout with --json; sets the exit status. */
export function reportError(error: unknown, json: boolean): void {
  const message = oneLine(error instanceof Error ? error.message : String(error));
  const code = error instanceof GatewayError || error instanceof ConfigError ? error.code : "ERROR";
  if (json) printJson({ error: message, code });
  else process.stderr.write(`pi-gateway: ${message}\n`);
  process.exitCode = exitCodeFor(error);
}

/** Wraps an action so any failure becomes one line (or a JSON object) and a non-zero exit. */
export function action<A extends unknown[]>(body: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await body(...args);
    } catch (error) {
      const command = args[args.length - 1] as Command;
      reportError(error, Boolean(command?.optsWithGlobals?.().json));
    }
  };
}

/**
 * Error messages may quote user input (JSON.parse does): keep them on one line and never pass
 * control characters (escape sequences, C1, bidi overrides, line separators) through to the terminal.
 */
export function oneLine(text: string): string {
  return text.replace(/\r?\n/g, "⏎").replace(UNSAFE_CHARACTERS, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16)}`;
  });
}

/** Formats a table with aligned columns. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
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
