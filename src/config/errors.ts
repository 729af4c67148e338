/**
 * A setting (environment variable, gateway.env or flag) with a value we cannot use. The message
 * names where the value came from and the expected form; the CLI exits 2 (bad input) for it.
 */
export class ConfigError extends Error {
  override name = "ConfigError";
  readonly code = "CONFIG";
}

/** Longest part of a refused value quoted in a message: a pasted file must not flood the terminal. */
const SHOWN_CHARS = 60;

/**
 * The one line every refused setting gives: `GATEWAY_LEASE="abc" is not a duration (expected e.g.
 * 500ms, 30s, 15m, 2h)`. `shown` is the value as it may be shown (passwords masked by the caller);
 * JSON quoting escapes control characters and quotes, so hostile input cannot break the line.
 */
export function settingError(from: string, shown: string, problem: string, expected: string): ConfigError {
  const cut = [...shown].length > SHOWN_CHARS ? `${[...shown].slice(0, SHOWN_CHARS).join("")}…` : shown;
  return new ConfigError(`${from}=${JSON.stringify(cut)} ${problem} (expected ${expected})`);
}
