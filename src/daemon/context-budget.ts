/**
 * How much of the model's context window the daemon's conversation may fill, and when it is
 * compacted. pi's own auto-compaction is off in the daemon: it compacts on the provider's reported
 * usage only (a provider that reports none never compacts: the request grew to 6.2 MB), and with its
 * defaults (reserve 16k, keep the last 20k) on a 32k window the kept part alone passes its threshold,
 * so it compacted after every turn. The daemon decides instead, with settings derived from the window.
 *
 * The rule (W = context window, T = compactAt × W, the threshold):
 * - compact before a turn whose input (conversation + system prompt + tools + the new prompt, from
 *   the provider's usage when it reported any since the last compaction, else ~4 characters a token)
 *   would pass T; before a person's prompt only past (T + W) / 2, so the extra LLM request of a
 *   compaction falls on an event turn and people do not wait for it;
 * - pi keeps the newest keepRecentTokens = min(20,000, 0.3 T) and summarises the rest into at most
 *   0.8 × reserveTokens = 0.8 × min(16,384, 0.25 T) tokens, so a compacted conversation is about
 *   half of T and the next compaction is many turns away;
 * - never twice without the context growing by minGrowthTokens = 0.2 T in between, and never when
 *   less than that would be summarised (a tiny or empty conversation): no compaction loop.
 */
import { z } from "zod";
import { ConfigError } from "../config/errors.js";

export interface ContextSettings {
  /** Overrides the model's context window (its metadata may be wrong or missing). */
  contextWindow?: number;
  /** Fraction of the window at which the conversation is compacted. */
  compactAt: number;
  /** After a compaction, a session file larger than this many bytes is continued in a new one (session-rotation.ts). */
  sessionFileMax?: number;
}

export interface ContextBudget {
  window: number;
  /** Compact before a turn whose input would pass this many tokens. */
  threshold: number;
  /**
   * A person's prompt waits for a compaction (an extra LLM request) only past this: halfway from the
   * threshold to the window. Below it the compaction is left to the next event turn, so people are
   * not the ones who wait for it.
   */
  humanThreshold: number;
  /** pi's compaction settings: the summary's budget is 0.8 × reserveTokens. */
  reserveTokens: number;
  keepRecentTokens: number;
  /** The context must grow by this much between two compactions, and at least this much must be summarised. */
  minGrowthTokens: number;
}

export const DEFAULT_COMPACT_AT = 0.7;
/** Default GATEWAY_SESSION_FILE_MAX: 8 MiB, hours of a busy session and a moment to load. */
export const DEFAULT_SESSION_FILE_MAX = 8 * 1024 * 1024;
/** pi's default for a custom model without a contextWindow in models.json. */
export const FALLBACK_CONTEXT_WINDOW = 128_000;
/** Below this a coding agent's system prompt and tools alone nearly fill the window. */
export const MIN_CONTEXT_WINDOW = 4_096;

export const CONTEXT_ENV_VARS = ["GATEWAY_CONTEXT_WINDOW", "GATEWAY_COMPACT_AT", "GATEWAY_SESSION_FILE_MAX"];
/** Smallest GATEWAY_SESSION_FILE_MAX: below this a file would be continued after nearly every compaction. */
export const MIN_SESSION_FILE_MAX = 64 * 1024;
const BYTE_UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 };

const ContextEnv = z.object({
  GATEWAY_CONTEXT_WINDOW: z
    .string()
    .regex(/^\s*\d+\s*$/, "is not a whole number of tokens")
    .transform(Number)
    .pipe(z.number().min(MIN_CONTEXT_WINDOW, `must be at least ${MIN_CONTEXT_WINDOW} tokens`))
    .optional(),
  GATEWAY_COMPACT_AT: z
    .string()
    .regex(/^\s*\d*\.?\d+\s*$/, "is not a fraction such as 0.7")
    .transform(Number)
    .pipe(z.number().min(0.3, "must be at least 0.3 (below, a compacted conversation would not fit under it)").max(0.95, "must be at most 0.95 (the reply needs room)"))
    .optional(),
  GATEWAY_SESSION_FILE_MAX: z
    .string()
    .regex(/^\s*\d+\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\s*$/i, "is not a size such as 8MiB, 512KiB or 1048576")
    .transform((text) => {
      const [, digits = "0", unit = ""] = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(text) ?? [];
      return Number(digits) * BYTE_UNITS[unit.toLowerCase()]!;
    })
    .pipe(z.number().min(MIN_SESSION_FILE_MAX, "must be at least 64KiB").max(Number.MAX_SAFE_INTEGER, "is too large"))
    .optional(),
});

/** The two settings from the environment; empty means unset. Throws ConfigError naming the variable. */
export function resolveContextSettings(env: Record<string, string | undefined>): ContextSettings {
  const given = Object.fromEntries(CONTEXT_ENV_VARS.filter((name) => env[name]?.trim()).map((name) => [name, env[name]]));
  const parsed = ContextEnv.safeParse(given);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0]);
    throw new ConfigError(`${name}: "${env[name]}" ${issue.message}`);
  }
  return {
    contextWindow: parsed.data.GATEWAY_CONTEXT_WINDOW,
    compactAt: parsed.data.GATEWAY_COMPACT_AT ?? DEFAULT_COMPACT_AT,
    sessionFileMax: parsed.data.GATEWAY_SESSION_FILE_MAX ?? DEFAULT_SESSION_FILE_MAX,
  };
}

/** The window to plan for: the override, else the model's, else pi's fallback for unknown models. */
export function contextWindowOf(settings: ContextSettings, modelWindow: number | undefined): number {
  if (settings.contextWindow) return settings.contextWindow;
  return modelWindow && modelWindow > 0 ? modelWindow : FALLBACK_CONTEXT_WINDOW;
}

export function contextBudget(window: number, compactAt: number): ContextBudget {
  const threshold = Math.floor(compactAt * window);
  return {
    window,
    threshold,
    humanThreshold: Math.floor((threshold + window) / 2),
    reserveTokens: Math.min(16_384, Math.floor(0.25 * threshold)),
    keepRecentTokens: Math.min(20_000, Math.floor(0.3 * threshold)),
    minGrowthTokens: Math.floor(0.2 * threshold),
  };
}

/**
 * Should the conversation be compacted before a turn? `input` is the estimated input of that turn,
 * `conversation` the tokens of its messages alone (what a compaction can shrink), `lastCompactedAt`
 * the input estimate right after the previous compaction (undefined: none in this process).
 */
export function shouldCompactBefore(budget: ContextBudget, input: number, conversation: number, lastCompactedAt: number | undefined, human = false): boolean {
  if (input <= (human ? budget.humanThreshold : budget.threshold)) return false;
  if (conversation - budget.keepRecentTokens < budget.minGrowthTokens) return false;
  return lastCompactedAt === undefined || input - lastCompactedAt >= budget.minGrowthTokens;
}
