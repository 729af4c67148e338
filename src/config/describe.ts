/**
 * The configuration as `pi-gateway config` shows it: every setting with the value the gateway
 * runs with (secrets by length only, URLs without password), where it came from and what it does.
 */
import { checkSetting, shownValue, type Env } from "./resolve.js";
import { SETTINGS, type SettingName } from "./schema.js";

export type SettingSource = "env" | "gateway.env" | "default";

export interface DescribedSetting {
  name: SettingName;
  class: string;
  group: string;
  /** As given, or the default's text; secrets and passwords masked. */
  value: string;
  source: SettingSource;
  default: string;
  help: string;
  /** The one-line error when the value is refused. */
  problem?: string;
}

/** Every setting of `env`; `fromEnvFile` names the variables gateway.env filled in. */
export function describeConfig(env: Env, fromEnvFile: ReadonlySet<string>): DescribedSetting[] {
  return (Object.keys(SETTINGS) as SettingName[]).map((name) => {
    const setting = SETTINGS[name];
    const raw = env[name];
    const given = raw !== undefined && raw.trim() !== "";
    const { problem } = checkSetting(name, raw);
    return {
      name,
      class: setting.class,
      group: setting.group,
      value: given ? shownValue(name, raw) : setting.defaultText,
      source: !given ? "default" : fromEnvFile.has(name) ? "gateway.env" : "env",
      default: setting.defaultText,
      help: setting.help,
      ...(problem ? { problem } : {}),
    };
  });
}
