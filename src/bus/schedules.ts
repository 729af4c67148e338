/**
 * Durable schedules on the bus: a hash of definitions and a sorted set of next due times. Firing
 * is two steps that are each safe to repeat, so any number of tickers (two daemons both believing
 * they own the central id, a ticker that crashed half-way) fire each due time exactly once:
 *   1. push `schedule.fired` with the event id `schedule:<id>:<due>`: the push script's dedup turns
 *      a second push of the same firing into a no-op;
 *   2. advance the schedule with a compare-and-set on its due score (advance-2.lua): one-shots are
 *      removed, recurring ones move to their next run after now (a missed hour fires once, not N times).
 */
import { randomUUID } from "node:crypto";
import { createEvent } from "../protocol/event.js";
import { nextDueAfter, type ScheduleDefinition } from "./schedule-spec.js";
import { quoteInput } from "../util/text.js";
import { GatewayError } from "./errors.js";
import { push } from "./producing.js";
import { serverTime } from "./sessions.js";
import type { BusContext, PushResult } from "./types.js";

export interface Schedule extends ScheduleDefinition {
  /** Next due time (ms), null when the definition has no due entry (being removed). */
  nextDue: number | null;
}

export type NewSchedule = Omit<ScheduleDefinition, "id" | "createdAt"> & { id?: string; due: number };

export interface Firing {
  id: string;
  dueAt: number;
  /** "pushed": this call delivered it; "duplicate": another ticker (or an earlier try) already had. */
  push: PushResult["status"] | "skipped";
  /** This call moved the schedule on (exactly one caller does per due time). */
  advanced: boolean;
}

/** Due schedules handled per tick: a backlog after a long outage drains over a few ticks. */
const FIRE_BATCH = 200;

export class ScheduleStore {
  constructor(private readonly ctx: BusContext) {}

  /** Adds (or, with an existing id, replaces) a schedule. Unknown sessions are refused unless `force`. */
  async add(input: NewSchedule, options: { force?: boolean } = {}): Promise<{ schedule: Schedule; replaced: boolean }> {
    if (!options.force && !(await this.ctx.client.sismember(this.ctx.keys.sessions, input.session))) {
      throw new GatewayError(`unknown session "${input.session}" (never registered; add --force to schedule for it anyway)`, "UNKNOWN_SESSION");
    }
    const { due, ...rest } = input;
    const definition: ScheduleDefinition = { ...rest, id: input.id ?? randomUUID().slice(0, 8), createdAt: Date.now() };
    const k = this.ctx.keys;
    const reply = await this.ctx.client.multi().hset(k.schedules, definition.id, JSON.stringify(definition)).zadd(k.schedulesDue, due, definition.id).exec();
    const created = Number(reply?.[0]?.[1] ?? 0);
    return { schedule: { ...definition, nextDue: due }, replaced: created === 0 };
  }

  /** Every schedule, soonest first (see `read` for the ids of stored records that do not read as one). */
  async list(): Promise<Schedule[]> {
    return (await this.read()).schedules;
  }

  /**
   * Every schedule, soonest first, and the ids whose stored record is not a schedule (edited by
   * hand, written by something else): skipped, never firing (the ticker drops their due entry),
   * and named so that whoever lists them is told.
   */
  async read(): Promise<{ schedules: Schedule[]; unreadable: string[] }> {
    const k = this.ctx.keys;
    const [definitions, due] = await Promise.all([this.ctx.client.hgetall(k.schedules), this.ctx.client.zrange(k.schedulesDue, 0, -1, "WITHSCORES")]);
    const dueById = new Map<string, number>();
    for (let i = 0; i < due.length; i += 2) dueById.set(due[i]!, Number(due[i + 1]));
    const unreadable: string[] = [];
    const schedules = Object.entries(definitions).flatMap(([id, raw]) => {
      const definition = readDefinition(raw);
      if (!definition) unreadable.push(id);
      return definition ? [{ ...definition, nextDue: dueById.get(definition.id) ?? null }] : [];
    });
    return { schedules: schedules.sort((a, b) => (a.nextDue ?? Infinity) - (b.nextDue ?? Infinity)), unreadable };
  }

  /** Cancels a schedule; false when there was none with this id. */
  async remove(id: string): Promise<boolean> {
    const k = this.ctx.keys;
    const reply = await this.ctx.client.multi().hdel(k.schedules, id).zrem(k.schedulesDue, id).exec();
    return Number(reply?.[0]?.[1] ?? 0) + Number(reply?.[1]?.[1] ?? 0) > 0;
  }

  /** The soonest due time, or null when nothing is scheduled. */
  async nextDue(): Promise<number | null> {
    const [, score] = await this.ctx.client.zrange(this.ctx.keys.schedulesDue, 0, 0, "WITHSCORES");
    return score === undefined ? null : Number(score);
  }

  /** Fires everything due at Redis's `now` (server time unless given). */
  async fireDue(now?: number): Promise<Firing[]> {
    const at = now ?? (await serverTime(this.ctx));
    const due = await this.ctx.client.zrangebyscore(this.ctx.keys.schedulesDue, "-inf", at, "WITHSCORES", "LIMIT", 0, FIRE_BATCH);
    const firings: Firing[] = [];
    for (let i = 0; i < due.length; i += 2) firings.push(await this.fire(due[i]!, Number(due[i + 1]), at));
    return firings;
  }

  /** Both steps for one due time. */
  async fire(id: string, dueAt: number, now: number): Promise<Firing> {
    const definition = readDefinition(await this.ctx.client.hget(this.ctx.keys.schedules, id));
    if (!definition) {
      // A due entry without a readable definition can never fire: drop it (CAS, like any advance).
      return { id, dueAt, push: "skipped", advanced: await this.advance(id, dueAt, null) };
    }
    const pushed = await this.pushFired(definition, dueAt, now);
    return { id, dueAt, push: pushed.status, advanced: await this.advance(id, dueAt, nextRunOrNone(definition, now)) };
  }

  /**
   * Step 1: the `schedule.fired` event, to the scheduling session only. A session that is gone for
   * good (an ephemeral one, reaped) cannot get it: then the centrals do, so it is never dropped.
   */
  async pushFired(definition: ScheduleDefinition, dueAt: number, firedAt: number): Promise<PushResult> {
    const payload = {
      id: definition.id,
      text: definition.text,
      session: definition.session,
      dueAt,
      firedAt,
      ...(definition.cron ? { cron: definition.cron } : {}),
    };
    const event = createEvent("schedule.fired", "schedule", payload, { id: firingEventId(definition.id, dueAt) });
    try {
      return await push(this.ctx, event, { target: definition.session, exclusive: true });
    } catch (error) {
      if (!(error instanceof GatewayError) || error.code !== "UNKNOWN_SESSION") throw error;
      return push(this.ctx, event);
    }
  }

  /** Step 2: compare-and-set on the due score; true for the one caller that moved it on. */
  async advance(id: string, dueAt: number, nextDue: number | null): Promise<boolean> {
    const k = this.ctx.keys;
    return Number(await this.ctx.scripts.advance([k.schedules, k.schedulesDue], [id, dueAt, nextDue ?? ""])) === 1;
  }
}

/** A definition whose pattern no longer parses (edited by hand) has fired its last. */
function nextRunOrNone(definition: ScheduleDefinition, now: number): number | null {
  try {
    return nextDueAfter(definition, now);
  } catch {
    return null;
  }
}

/** The event id of one firing: the same for every ticker, so the push dedup lets only one through. */
export function firingEventId(id: string, dueAt: number): string {
  return `schedule:${id}:${dueAt}`;
}

function readDefinition(raw: string | null | undefined): ScheduleDefinition | undefined {
  if (!raw) return undefined;
  try {
    const value = JSON.parse(raw) as ScheduleDefinition;
    return typeof value?.id === "string" && typeof value.session === "string" && typeof value.text === "string" ? value : undefined;
  } catch {
    return undefined;
  }
}

/** One line for a skipped record, its id quoted (it is whatever was stored). */
export function describeUnreadableSchedule(id: string): string {
  return `skipped schedule ${quoteInput(id, 64)}: its stored record is unreadable (not the JSON the gateway writes); it will not fire`;
}
