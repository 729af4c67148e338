/**
 * A setting (environment variable, gateway.env or flag) with a value we cannot use. The message
 * names where the value came from and the expected form; the CLI exits 2 (bad input) for it.
 */
import { quoteInput } from "../util/text.js";

export class ConfigError extends Error {
  override name = "ConfigError";
  readonly code = "CONFIG";
}

/**
 * The one line every refused setting gives: `GATEWAY_LEASE="abc" is not a duration (expected e.g.
 * 500ms, 30s, 15m, 2h)`. `shown` is the value as it may be shown (passwords masked by the caller);
 * quoteInput escapes control characters (C1 too) and quotes and cuts a long value, so hostile input
 * can neither break the line nor flood it.
 */
export function settingError(from: string, shown: string, problem: string, expected: string): ConfigError {
  return new ConfigError(`${from}=${quoteInput(shown)} ${problem} (expected ${expected})`);
}
