/** `pi-gateway schedule add|list|rm`: durable wake-ups for a session (src/bus/schedules.ts). */
import type { Command } from "commander";
import { GatewayError } from "../../bus/errors.js";
import { describeUnreadableSchedule, type Schedule } from "../../bus/schedules.js";
import { SessionIdSchema } from "../../protocol/event.js";
import { DEFAULT_CENTRAL_SESSION } from "../../protocol/keys.js";
import { buildSchedule, checkScheduleId, describeScheduled } from "../../bus/schedule-spec.js";
import { capText, quoteInput } from "../../util/text.js";
import { action, globalOptions, oneLine, print, printJson, table, usage, UsageError, withBus } from "../context.js";

interface AddFlags {
  at?: string;
  in?: string;
  cron?: string;
  tz?: string;
  session?: string;
  id?: string;
  force?: boolean;
}

export function registerSchedule(program: Command): void {
  const schedule = program
    .command("schedule")
    .description("durable wake-ups: at the time, the session receives a schedule.fired event with the text (fired once, by the central's owner)");
  schedule
    .command("add")
    .description("add a schedule (an existing --id is replaced)")
    .argument("<text>", "what the session is told when it fires")
    .option("--at <time>", "once, at this ISO 8601 time with an offset or Z (e.g. 2026-12-24T18:00:00+01:00)")
    .option("--in <duration>", "once, after this long (e.g. 20m, 2h)")
    .option("--cron <pattern>", 'repeatedly, on this cron pattern (e.g. "0 9 * * *"; 6 fields: seconds first)')
    .option("--tz <zone>", "time zone the --cron pattern is read in (e.g. Europe/Berlin; default: the firing host's)")
    .option("--session <id>", `the session to wake (default: ${DEFAULT_CENTRAL_SESSION}, the central)`)
    .option("--id <id>", "schedule id (default: a new short id); adding an existing id replaces it")
    .option("--force", "schedule for a session that never registered")
    .action(action(async (text: string, flags: AddFlags, command: Command) => addSchedule(text, flags, command)));
  schedule
    .command("list")
    .description("list schedules, soonest first")
    .action(
      action(async (_flags: object, command: Command) => {
        const options = globalOptions(command);
        const { schedules, unreadable } = await withBus(options, (bus) => bus.schedules.read());
        for (const id of unreadable) process.stderr.write(`pi-gateway: ${describeUnreadableSchedule(id)}\n`);
        if (options.json) return printJson({ schedules, unreadable });
        print(schedules.length ? scheduleTable(schedules) : "no schedules");
      }),
    );
  schedule
    .command("rm")
    .description("cancel a schedule")
    .argument("<id>", "the schedule's id (see schedule list)")
    .action(
      action(async (id: string, _flags: object, command: Command) => {
        const options = globalOptions(command);
        // A malformed id is a usage error (exit 2) before anything connects: no schedule can have it.
        usage(() => checkScheduleId(id));
        const removed = await withBus(options, (bus) => bus.schedules.remove(id));
        if (!removed) throw new GatewayError(`no schedule "${id}" (pi-gateway schedule list shows them)`, "NOT_FOUND");
        if (options.json) printJson({ removed: id });
        else print(`removed schedule ${id}`);
      }),
    );
}

async function addSchedule(text: string, flags: AddFlags, command: Command): Promise<void> {
  const options = globalOptions(command);
  const session = flags.session ?? DEFAULT_CENTRAL_SESSION;
  const checked = SessionIdSchema.safeParse(session);
  if (!checked.success) throw new UsageError(`--session ${quoteInput(session)}: ${checked.error.issues[0]?.message ?? "invalid session id"}`);
  const request = { text, at: flags.at, in: flags.in, cron: flags.cron, timezone: flags.tz, id: flags.id, session };
  const input = usage(() => buildSchedule({ ...request, createdBy: process.env.GATEWAY_SESSION_ID || "cli" }, Date.now()));
  const { schedule, replaced } = await withBus(options, (bus) =>
    bus.schedules.add(input, { force: flags.force }).catch((error: unknown) => {
      throw error instanceof GatewayError && error.code === "UNKNOWN_SESSION" ? new UsageError(error.message) : error;
    }),
  );
  if (options.json) return printJson({ ...schedule, replaced, nextDueIso: new Date(schedule.nextDue!).toISOString() });
  print(describeScheduled(schedule, replaced, Date.now()));
}

function scheduleTable(schedules: Schedule[]): string {
  // Stored records are shown escaped: whatever sits in Redis must not drive the terminal.
  const rows = schedules.map((s) => [
    oneLine(s.id),
    oneLine(s.session),
    s.nextDue === null ? "-" : new Date(s.nextDue).toISOString(),
    s.cron ? oneLine(`cron ${s.cron}${s.timezone ? ` (${s.timezone})` : ""}`) : "once",
    oneLine(capText(s.text, 60)),
  ]);
  return table(["ID", "SESSION", "NEXT", "REPEAT", "TEXT"], rows);
}
