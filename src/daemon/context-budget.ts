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
import { resolveSettings } from "../config/resolve.js";
import { MIN_CONTEXT_WINDOW, SETTINGS, settingNames } from "../config/schema.js";

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

export const DEFAULT_COMPACT_AT = SETTINGS.GATEWAY_COMPACT_AT.defaultValue;
/** Default GATEWAY_SESSION_FILE_MAX: 8 MiB, hours of a busy session and a moment to load. */
export const DEFAULT_SESSION_FILE_MAX = SETTINGS.GATEWAY_SESSION_FILE_MAX.defaultValue;
/** pi's default for a custom model without a contextWindow in models.json. */
export const FALLBACK_CONTEXT_WINDOW = 128_000;
export { MIN_CONTEXT_WINDOW };

export const CONTEXT_ENV_VARS = settingNames("context");

/** The context settings from the environment; empty means unset. Throws ConfigError naming the variable. */
export function resolveContextSettings(env: Record<string, string | undefined>): ContextSettings {
  const config = resolveSettings(env, ["GATEWAY_CONTEXT_WINDOW", "GATEWAY_COMPACT_AT", "GATEWAY_SESSION_FILE_MAX"]);
  return { contextWindow: config.GATEWAY_CONTEXT_WINDOW, compactAt: config.GATEWAY_COMPACT_AT, sessionFileMax: config.GATEWAY_SESSION_FILE_MAX };
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
