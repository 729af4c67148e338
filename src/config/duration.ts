/**
 * The one duration parser of the gateway: every setting, flag and Redis config field that is a time
 * goes through it. A duration has a unit ("500ms", "30s", "15m", "2h", "7d", "1.5s"); a bare number
 * is refused, apart from "0": "15" for a heartbeat interval would otherwise mean 15 milliseconds.
 */

/** How a duration must look, for error messages and help texts. */
export const DURATION_FORM = "e.g. 500ms, 30s, 15m, 2h";

import { settingError } from "./errors.js";
import { quoteInput } from "../util/text.js";

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Milliseconds, or undefined when `text` is not a duration (no unit, negative, NaN, too many digits). */
export function durationMs(text: string): number | undefined {
  const match = /^\s*(\d{1,15}(?:\.\d{1,6})?)\s*(ms|s|m|h|d)?\s*$/i.exec(text);
  if (!match) return undefined;
  const amount = Number(match[1]);
  if (!match[2]) return amount === 0 ? 0 : undefined;
  const ms = Math.round(amount * UNIT_MS[match[2].toLowerCase() as keyof typeof UNIT_MS]);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** Parses a duration (see durationMs); a number is taken as milliseconds. Throws on anything else. */
export function parseDuration(input: string | number): number {
  if (typeof input === "number") {
    if (!Number.isFinite(input) || input < 0) throw new Error(`${input} is not a duration (expected ${DURATION_FORM})`);
    return input;
  }
  const ms = durationMs(input);
  if (ms === undefined) throw new Error(`${quoteInput(input)} is not a duration (expected ${DURATION_FORM})`);
  return ms;
}

export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${Math.round(ms / 100) / 10}s`;
  if (ms < 3_600_000) return `${Math.round(ms / 6_000) / 10}m`;
  if (ms < 86_400_000) return `${Math.round(ms / 360_000) / 10}h`;
  return `${Math.round(ms / 8_640_000) / 10}d`;
}

/** A duration flag that mirrors no setting (--wait...): the same parser, the same one-line error. */
export function parseDurationFlag(flag: string, raw: string): number {
  const ms = durationMs(raw);
  if (ms === undefined) throw settingError(flag, raw, "is not a duration", DURATION_FORM);
  return ms;
}

export const DURATION_HELP = `Durations (settings and flags) take a unit: ${DURATION_FORM}, 7d, 1.5s; a bare number other than 0 is refused.
Empty settings mean unset (the default).`;
