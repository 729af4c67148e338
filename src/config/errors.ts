/**
 * A setting (environment variable, gateway.env or flag) with a value we cannot use. The message
 * names where the value came from and the expected form; the CLI exits 2 (bad input) for it.
 */
export class ConfigError extends Error {
  override name = "ConfigError";
  readonly code = "CONFIG";
}
