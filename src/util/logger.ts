/**
 * The logging surface the library code needs: pino's (obj, msg) call shape, so a pino logger can
 * be passed straight in. Library code never writes to stdout/stderr itself (inside pi's TUI that
 * would corrupt the screen); the host decides where logs go.
 */
import { pino } from "pino";

export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** A pino logger writing JSON lines to a file descriptor (stderr by default) or a file path. */
export function createLogger(name: string, options: { level?: string; destination?: string | number } = {}): Logger {
  const level = options.level ?? process.env.GATEWAY_LOG_LEVEL ?? "info";
  return pino({ name, level }, pino.destination({ dest: options.destination ?? 2, sync: true }));
}
