/**
 * The original design's three setup questions, and how their answers map to a tier.
 *   goal:     notifications (tier 1) / always-on (tier 2) / full gateway (tier 4)
 *   source:   cron / inngest / mixed
 *   sessions: one / several (several turns tier 2 into tier 3: central/satellite routing)
 */
export type Tier = 1 | 2 | 3 | 4;
export type EventSource = "cron" | "inngest" | "mixed";
export type SessionCount = "one" | "several";

export interface SetupAnswers {
  tier: Tier;
  source: EventSource;
  sessions: SessionCount;
}

export interface Choice<T> {
  value: T;
  label: string;
  hint: string;
}

export const GOAL_CHOICES: Array<Choice<Tier>> = [
  { value: 1, label: "Notifications only", hint: "background jobs finish, I want to know about it without watching the terminal" },
  { value: 2, label: "Always-on agent", hint: "a persistent session that survives terminal closes, handles heartbeats, routes events" },
  { value: 4, label: "Full gateway", hint: "always-on + talk to my agent from Telegram/phone + multi-session routing" },
];

export const SOURCE_CHOICES: Array<Choice<EventSource>> = [
  { value: "cron", label: "Just cron/timers", hint: "a heartbeat that checks system health periodically" },
  { value: "inngest", label: "Inngest functions", hint: "durable workflows that emit completion events" },
  { value: "mixed", label: "Mixed", hint: "Inngest + cron + maybe webhooks" },
];

export const SESSION_CHOICES: Array<Choice<SessionCount>> = [
  { value: "one", label: "One", hint: "I run one pi session at a time" },
  { value: "several", label: "Multiple", hint: "I often have 2-5 sessions in different terminals" },
];

/** Tier 2 with several sessions is tier 3; tier 3 asked for directly implies several sessions. */
export function normalizeAnswers(answers: SetupAnswers): SetupAnswers {
  if (answers.tier === 2 && answers.sessions === "several") return { ...answers, tier: 3 };
  if (answers.tier === 3) return { ...answers, sessions: "several" };
  return answers;
}

export function parseTier(value: string): Tier {
  const n = Number(value);
  if (n === 1 || n === 2 || n === 3 || n === 4) return n;
  throw new Error(`--tier must be 1, 2, 3 or 4 (got "${value}")`);
}

export function parseSource(value: string): EventSource {
  if (value === "cron" || value === "inngest" || value === "mixed") return value;
  throw new Error(`--source must be cron, inngest or mixed (got "${value}")`);
}

export function parseSessions(value: string): SessionCount {
  if (value === "one" || value === "several") return value;
  throw new Error(`--sessions must be one or several (got "${value}")`);
}
