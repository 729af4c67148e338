/**
 * What a schedule is and how its times are read: the parts the CLI, the store and (later) the agent
 * tools share. Pure: no Redis, no clock except the `now` passed in.
 */
import { Cron } from "croner";
import { formatDuration, parseDuration } from "../config/duration.js";
import { capText, escapeControls, quoteInput } from "../util/text.js";

/** A schedule as stored (JSON in the schedules hash); its next due time lives in the due zset. */
export interface ScheduleDefinition {
  id: string;
  /** The session that receives `schedule.fired`. */
  session: string;
  text: string;
  kind: "at" | "cron";
  /** A one-shot's time (ms). */
  at?: number;
  /** A recurring schedule's croner pattern (5 fields, or 6 with seconds first). */
  cron?: string;
  /** IANA time zone the cron pattern is read in (default: the firing host's). */
  timezone?: string;
  createdAt: number;
  /** Who made it: "cli", a session id... */
  createdBy: string;
}

/** When: exactly one of `at` (ISO 8601 with offset or Z), `in` (a duration) or `cron`. */
export interface ScheduleTimeSpec {
  at?: string;
  in?: string;
  cron?: string;
  timezone?: string;
}

export class ScheduleSpecError extends Error {}

export const SCHEDULE_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
export const SCHEDULE_TEXT_MAX = 4_000;
/** ISO 8601 date-time with an explicit offset or Z: a bare local time would depend on the host. */
const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:?\d{2})$/i;

/**
 * How the messages name the inputs: the CLI's flags (`--in`, the default) or an agent tool's
 * parameters (`in`, with `timezone` for the zone).
 */
export interface SpecNames {
  prefix: string;
  timezone: string;
}
export const CLI_NAMES: SpecNames = { prefix: "--", timezone: "--tz" };

/** The kind and first due time of a schedule; throws ScheduleSpecError with one clear sentence. */
export function resolveScheduleTime(
  spec: ScheduleTimeSpec,
  now: number,
  names: SpecNames = CLI_NAMES,
): { kind: "at" | "cron"; due: number; at?: number; cron?: string } {
  const n = (key: string) => `${names.prefix}${key}`;
  const given = (["at", "in", "cron"] as const).filter((k) => spec[k] !== undefined);
  if (given.length !== 1) {
    throw new ScheduleSpecError(
      given.length
        ? `give only one of ${n("at")}, ${n("in")}, ${n("cron")} (got ${given.map(n).join(" and ")})`
        : `give one of ${n("at")}, ${n("in")} or ${n("cron")}`,
    );
  }
  if (spec.timezone !== undefined && spec.cron === undefined) throw new ScheduleSpecError(`${names.timezone} only applies to ${n("cron")}`);
  if (spec.cron !== undefined) {
    const cron = spec.cron.trim();
    const due = nextCronRun(cron, now, spec.timezone === undefined ? undefined : checkTimezone(spec.timezone, names.timezone));
    if (due === null) throw new ScheduleSpecError(`cron pattern ${quoteInput(spec.cron)} never fires`);
    return { kind: "cron", due, cron };
  }
  const at = spec.at !== undefined ? parseIsoTime(spec.at, n("at")) : now + parseDelay(spec.in!, n("in"));
  if (at <= now) throw new ScheduleSpecError(`${n("at")} ${(spec.at ?? "").trim()} is in the past`);
  return { kind: "at", due: at, at };
}

/** The first run of a cron pattern strictly after `after` (ms), or null when it never fires again. */
export function nextCronRun(pattern: string, after: number, timezone?: string): number | null {
  let job: Cron;
  try {
    // croner 10+ also reads a seventh (year) field; the documented forms are 5 fields, or 6 with seconds.
    job = new Cron(pattern, { paused: true, timezone, mode: "5-or-6-parts" });
  } catch (error) {
    // croner's reason may quote the pattern: escaped and cut like the pattern itself.
    const reason = escapeControls(capText((error as Error).message.replace(/^CronPattern: /, ""), 200));
    throw new ScheduleSpecError(`invalid cron pattern ${quoteInput(pattern)}${timezone ? ` (time zone ${quoteInput(timezone)})` : ""}: ${reason}`);
  }
  try {
    return job.nextRun(new Date(after))?.getTime() ?? null;
  } catch (error) {
    throw new ScheduleSpecError(`cannot compute the next run of ${quoteInput(pattern)}: ${escapeControls(capText((error as Error).message, 200))}`);
  } finally {
    job.stop();
  }
}

/** When a schedule fires next after firing at `firedAt`: never again for a one-shot. */
export function nextDueAfter(definition: ScheduleDefinition, now: number): number | null {
  if (definition.kind !== "cron" || !definition.cron) return null;
  // From now, not from the missed due time: a recurring schedule missed for hours fires once.
  return nextCronRun(definition.cron, now, definition.timezone);
}

/** What a caller asks for: the text, when, and for whom (the CLI's flags, a tool's parameters). */
export interface ScheduleRequest extends ScheduleTimeSpec {
  text: string;
  id?: string;
  session: string;
  createdBy: string;
}

/** A checked schedule ready for ScheduleStore.add; throws ScheduleSpecError with one clear sentence. */
export function buildSchedule(
  request: ScheduleRequest,
  now: number,
  names: SpecNames = CLI_NAMES,
): Omit<ScheduleDefinition, "id" | "createdAt"> & { id?: string; due: number } {
  const when = resolveScheduleTime({ at: request.at, in: request.in, cron: request.cron, timezone: request.timezone }, now, names);
  return {
    id: request.id === undefined ? undefined : checkScheduleId(request.id),
    session: request.session,
    text: checkScheduleText(request.text),
    kind: when.kind,
    ...(when.at !== undefined ? { at: when.at } : {}),
    ...(when.cron !== undefined ? { cron: when.cron } : {}),
    // Checked by resolveScheduleTime: a real IANA zone, stored trimmed (never "").
    ...(request.timezone !== undefined ? { timezone: request.timezone.trim() } : {}),
    createdBy: request.createdBy,
    due: when.due,
  };
}

/** "scheduled <id> for <session>: once at <ISO> (in 2s)", or the cron pattern with its next run. */
export function describeScheduled(
  schedule: Pick<ScheduleDefinition, "id" | "session" | "cron"> & { nextDue: number | null },
  replaced: boolean,
  now: number,
): string {
  const due = schedule.nextDue ?? now;
  const next = `${new Date(due).toISOString()} (in ${formatDuration(due - now)})`;
  const when = schedule.cron ? `cron "${schedule.cron}", next run ${next}` : `once at ${next}`;
  return `${replaced ? "replaced" : "scheduled"} ${schedule.id} for ${schedule.session}: ${when}`;
}

export function checkScheduleText(text: string): string {
  if (!text.trim()) throw new ScheduleSpecError("the schedule's text is empty");
  if (text.length > SCHEDULE_TEXT_MAX) throw new ScheduleSpecError(`the schedule's text is ${text.length} characters, over ${SCHEDULE_TEXT_MAX}`);
  return text;
}

export function checkScheduleId(id: string): string {
  if (!SCHEDULE_ID_PATTERN.test(id)) throw new ScheduleSpecError(`invalid schedule id ${quoteInput(id)} (1-64 letters, digits, _ . -)`);
  return id;
}

/**
 * An IANA time zone as Intl knows it (Europe/Berlin, UTC), trimmed. Empty or blank is refused, not
 * taken as "the host's zone": a stored "" would read as a zone that is not there.
 */
export function checkTimezone(zone: string, name = CLI_NAMES.timezone): string {
  const value = zone.trim();
  if (!value) throw new ScheduleSpecError(`${name} is empty (give an IANA time zone such as Europe/Berlin, or leave it out for the host's)`);
  try {
    if (value.length <= 64) {
      new Intl.DateTimeFormat("en", { timeZone: value });
      return value;
    }
  } catch {
    // reported below
  }
  throw new ScheduleSpecError(`invalid ${name} ${quoteInput(zone)} (not an IANA time zone such as Europe/Berlin or UTC)`);
}

function parseIsoTime(input: string, name: string): number {
  const value = input.trim();
  const ms = ISO_WITH_ZONE.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(ms))
    throw new ScheduleSpecError(`invalid ${name} time ${quoteInput(input)} (use ISO 8601 with an offset or Z, e.g. 2026-12-24T18:00:00+01:00)`);
  return ms;
}

function parseDelay(input: string, name: string): number {
  let ms: number;
  try {
    ms = parseDuration(input);
  } catch (error) {
    throw new ScheduleSpecError(`invalid ${name} ${(error as Error).message.replace(/^invalid /, "")}`);
  }
  if (ms <= 0) throw new ScheduleSpecError(`${name} must be more than zero (got ${quoteInput(input)})`);
  return ms;
}
