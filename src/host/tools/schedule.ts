/**
 * gateway_schedule, gateway_schedules, gateway_unschedule: durable wake-ups for this session, the
 * agent's `pi-gateway schedule add|list|rm` (the same checks, schedule-spec.ts, and the same store).
 */
import { Type } from "typebox";
import { buildSchedule, checkScheduleId, describeScheduled, SCHEDULE_TEXT_MAX, type SpecNames } from "../../bus/schedule-spec.js";
import { describeUnreadableSchedule, type Schedule } from "../../bus/schedules.js";
import { formatDuration } from "../../config/duration.js";
import { capText } from "../../util/text.js";
import { checked, ToolFailure, withGateway, type GatewayToolContext } from "./context.js";
import type { GatewayTool } from "./pi-tool.js";

/** Messages name the tool's parameters, not the CLI's flags. */
const TOOL_NAMES: SpecNames = { prefix: "", timezone: "timezone" };

const scheduleParameters = Type.Object({
  text: Type.String({ description: `What this session is told when it fires (1-${SCHEDULE_TEXT_MAX} characters).`, maxLength: SCHEDULE_TEXT_MAX }),
  at: Type.Optional(Type.String({ description: "Once, at this ISO 8601 time with an offset or Z, e.g. 2026-12-24T18:00:00+01:00." })),
  in: Type.Optional(Type.String({ description: "Once, after this long: a duration such as 90s, 20m, 2h." })),
  cron: Type.Optional(Type.String({ description: 'Repeatedly, on this cron pattern: 5 fields ("0 9 * * 1-5") or 6 with seconds first.' })),
  timezone: Type.Optional(Type.String({ description: "IANA time zone the cron pattern is read in (e.g. Europe/Berlin); only with cron." })),
  id: Type.Optional(Type.String({ description: "Schedule id (1-64 of A-Z a-z 0-9 _ . -); a schedule with this id is replaced. Default: a new short id." })),
});

export interface ScheduleDetails {
  schedule: Schedule;
  replaced: boolean;
}

export function scheduleTool(ctx: GatewayToolContext): GatewayTool<typeof scheduleParameters, ScheduleDetails> {
  return {
    name: "gateway_schedule",
    label: "Schedule a wake-up",
    description:
      "Schedule a durable wake-up for this session: at the time, this session receives a `schedule.fired` gateway event carrying the text. " +
      "Give exactly one of `at` (ISO time), `in` (duration) or `cron` (recurring). Stored in Redis: it survives restarts of pi and the gateway, " +
      "fires exactly once per due time, and a one-shot missed while everything was down fires once at the next start.",
    promptSnippet: "gateway_schedule: wake this session later (at / in / cron) with a schedule.fired event",
    parameters: scheduleParameters,
    async run(params) {
      const now = Date.now();
      const input = checked(() => buildSchedule({ ...params, session: "-", createdBy: "-" }, now, TOOL_NAMES));
      const { schedule, replaced } = await withGateway(ctx, "store the schedule", (bus, sessionId) =>
        // force: the session is this one, registered or about to be (an automatic role decided a moment ago).
        bus.schedules.add({ ...input, session: sessionId, createdBy: sessionId }, { force: true }),
      );
      return { text: describeScheduled(schedule, replaced, Date.now()), details: { schedule, replaced } };
    },
  };
}

const listParameters = Type.Object({});

export function schedulesTool(ctx: GatewayToolContext): GatewayTool<typeof listParameters, { schedules: Schedule[] }> {
  return {
    name: "gateway_schedules",
    label: "List schedules",
    description: "List every gateway schedule, soonest first: id, the session it wakes, the next run, once or cron, and the text.",
    promptSnippet: "gateway_schedules: list the gateway's schedules",
    parameters: listParameters,
    async run() {
      const { schedules, unreadable, sessionId } = await withGateway(ctx, "list the schedules", async (bus, sessionId) => ({
        ...(await bus.schedules.read()),
        sessionId,
      }));
      const skipped = unreadable.map(describeUnreadableSchedule);
      if (!schedules.length) return { text: ["no schedules", ...skipped].join("\n"), details: { schedules } };
      const now = Date.now();
      const lines = schedules.map((s) => {
        const next = s.nextDue === null ? "being removed" : `next ${new Date(s.nextDue).toISOString()} (in ${formatDuration(Math.max(s.nextDue - now, 0))})`;
        const repeat = s.cron ? `cron "${s.cron}"${s.timezone ? ` (${s.timezone})` : ""}` : "once";
        const who = s.session === sessionId ? `${s.session} (this session)` : s.session;
        return `${s.id}: for ${who}, ${repeat}, ${next}: ${JSON.stringify(capText(s.text, 200))}`;
      });
      return { text: [...lines, ...skipped].join("\n"), details: { schedules } };
    },
  };
}

const unscheduleParameters = Type.Object({
  id: Type.String({ description: "The schedule's id, as gateway_schedule returned it or gateway_schedules lists it." }),
});

export function unscheduleTool(ctx: GatewayToolContext): GatewayTool<typeof unscheduleParameters, { removed: string }> {
  return {
    name: "gateway_unschedule",
    label: "Cancel a schedule",
    description: "Cancel a gateway schedule by its id (gateway_schedules lists them); it will not fire again.",
    promptSnippet: "gateway_unschedule: cancel a gateway schedule by id",
    parameters: unscheduleParameters,
    async run(params) {
      const id = checked(() => checkScheduleId(params.id));
      const removed = await withGateway(ctx, `cancel schedule ${id}`, (bus) => bus.schedules.remove(id));
      if (!removed) throw new ToolFailure(`no schedule "${id}" (gateway_schedules lists them)`);
      return { text: `cancelled schedule ${id}`, details: { removed: id } };
    },
  };
}
