/**
 * Reading settings through the schema: empty (or blank) means unset everywhere, an unset setting
 * takes its default, and a value that does not parse stops with one line naming the variable, the
 * value and the expected form (a ConfigError: exit 2 in the CLI, a notice in the extension).
 */
import { settingError } from "./errors.js";
import { SETTINGS, type GatewayConfig, type SettingName } from "./schema.js";

export type Env = Record<string, string | undefined>;

/** The value of `raw` for setting `name`; `from` names where it came from (a flag such as --port). */
export function parseSetting<K extends SettingName>(name: K, raw: string | undefined, from: string = name): GatewayConfig[K] {
  const setting = SETTINGS[name];
  if (raw === undefined || raw.trim() === "") return setting.defaultValue as GatewayConfig[K];
  const result = setting.schema.safeParse(raw);
  if (result.success) return result.data as GatewayConfig[K];
  throw settingError(from, shownValue(name, raw), result.error.issues[0]!.message, setting.expected);
}

/** Like parseSetting, but a bad value gives its one-line message instead of throwing. */
export function checkSetting<K extends SettingName>(name: K, raw: string | undefined): { value?: GatewayConfig[K]; problem?: string } {
  try {
    return { value: parseSetting(name, raw) };
  } catch (error) {
    return { problem: (error as Error).message };
  }
}

/** The settings `names` from `env`, each parsed (the first bad one throws). */
export function resolveSettings<K extends SettingName>(env: Env, names: readonly K[]): Pick<GatewayConfig, K> {
  const config = {} as Pick<GatewayConfig, K>;
  for (const name of names) config[name] = parseSetting(name, env[name]);
  return config;
}

/** Every setting from `env`: what the daemon runs with and `security audit` / `pi-gateway config` show. */
export function resolveConfig(env: Env): GatewayConfig {
  return resolveSettings(env, Object.keys(SETTINGS) as SettingName[]);
}

/** A value as it may appear in a message or a listing: secrets by length only, URLs without password. */
export function shownValue(name: SettingName, raw: string): string {
  const setting: { secret?: boolean; show?: (raw: string) => string } = SETTINGS[name];
  if (setting.secret) return `<secret, ${[...raw].length} characters>`;
  return setting.show ? setting.show(raw) : raw;
}
