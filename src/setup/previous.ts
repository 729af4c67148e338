/**
 * What the previous run of `pi-gateway setup` answered, read back from the gateway.env it wrote:
 * a second run offers those answers as its defaults (and `--yes` keeps them), instead of starting
 * over from tier 1; doctor reads the service manager from it to know what to probe.
 *
 * The file is the user's to edit, so each value is validated: an empty one counts as unset, a
 * malformed one is not offered and is reported (never silently dropped).
 */
import { existsSync, readFileSync } from "node:fs";
import { z } from "zod";
import { parseEnvFile } from "../config/env-file.js";
import { parseDuration } from "../config/duration.js";
import type { SetupAnswers } from "./answers.js";
import type { ServiceManager } from "./service/index.js";

/** The gateway.env keys setup records its answers under. */
const ANSWER_KEYS = {
  tier: "GATEWAY_SETUP_TIER",
  source: "GATEWAY_SETUP_SOURCE",
  sessions: "GATEWAY_SETUP_SESSIONS",
  service: "GATEWAY_SETUP_SERVICE",
  interval: "GATEWAY_HEARTBEAT_INTERVAL",
  redisUrl: "REDIS_URL",
} as const;

const duration = z.string().refine((value) => {
  try {
    return parseDuration(value) > 0;
  } catch {
    return false;
  }
}, "not a duration like 15m");

const FIELDS = {
  tier: z.enum(["1", "2", "3", "4"]).transform((value) => Number(value) as SetupAnswers["tier"]),
  source: z.enum(["cron", "inngest", "mixed"]),
  sessions: z.enum(["one", "several"]),
  service: z.enum(["launchd", "systemd", "tmux", "none"]),
  interval: duration,
  redisUrl: z.string().regex(/^rediss?:\/\/\S+$/, "not a redis:// or rediss:// URL"),
};

export interface PreviousSetup {
  /** The file read, when it exists. */
  file?: string;
  tier?: SetupAnswers["tier"];
  source?: SetupAnswers["source"];
  sessions?: SetupAnswers["sessions"];
  service?: ServiceManager | "none";
  interval?: string;
  redisUrl?: string;
  /** One line per value that was present but not valid (and so not offered). */
  ignored: string[];
}

export function readPreviousSetup(envFile: string): PreviousSetup {
  if (!existsSync(envFile)) return { ignored: [] };
  const values = parseEnvFile(readFileSync(envFile, "utf8"));
  const previous: PreviousSetup = { file: envFile, ignored: [] };
  for (const [field, schema] of Object.entries(FIELDS) as Array<[keyof typeof FIELDS, z.ZodType]>) {
    const key = ANSWER_KEYS[field];
    const raw = values[key]?.trim();
    if (!raw) continue;
    const parsed = schema.safeParse(raw);
    if (parsed.success) Object.assign(previous, { [field]: parsed.data });
    else previous.ignored.push(`${key}=${raw} in ${envFile}: ${parsed.error.issues[0]?.message ?? "not valid"}; not used as a default`);
  }
  return previous;
}

/** The lines setup writes so that the next run can read its answers back. */
export function answerLines(answers: SetupAnswers, service: ServiceManager | "none"): Record<string, string> {
  return {
    [ANSWER_KEYS.tier]: String(answers.tier),
    [ANSWER_KEYS.source]: answers.source,
    [ANSWER_KEYS.sessions]: answers.sessions,
    [ANSWER_KEYS.service]: service,
  };
}
