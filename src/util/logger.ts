/**
 * The logging surface the library code needs: pino's (obj, msg) call shape, so a pino logger can
 * be passed straight in. Library code never writes to stdout/stderr itself (inside pi's TUI that
 * would corrupt the screen); the host decides where logs go (config/logging.ts builds the pino
 * logger from the settings).
 */
import type { Logger } from "./log-types.js";

export type { Logger };

export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
