import type { Command } from "commander";
import type { JournalEntry } from "../../bus/bus.js";
import { parseCount } from "../../config/bus-options.js";
import { action, globalOptions, oneLine, print, withBus } from "../context.js";

interface TailFlags {
  lines: string;
  follow?: boolean;
  kind?: string;
}

export function registerTail(program: Command): void {
  program
    .command("tail")
    .description("show the journal: what was pushed, delivered, retried, dead-lettered, and what the agent replied")
    .option("-n, --lines <count>", "how many recent entries to show", "20")
    .option("-f, --follow", "keep printing new entries as they happen (Ctrl-C to stop)")
    .option(
      "-k, --kind <kind>",
      "only entries of this kind: pushed, delivered, duplicate (an id seen before, not delivered again), id-assigned (an entry without an id got one from its content), retry (a daemon turn failed and runs again), dead-letter, replied (the agent answered a turn: origin and first line), notify (a notification for the owner) or notified (a daemon delivered it)",
    )
    .action(
      action(async (flags: TailFlags, command: Command) => {
        const options = globalOptions(command);
        const count = flags.lines === "0" ? 0 : parseCount(flags.lines, "--lines");
        const show = (entry: JournalEntry) => {
          if (flags.kind && entry.kind !== flags.kind) return;
          // --json prints one object per line so the output can be piped into jq while following.
          print(options.json ? JSON.stringify(entry) : formatEntry(entry));
        };
        await withBus(options, async (bus) => {
          const recent = count > 0 ? await bus.journal(count) : [];
          recent.forEach(show);
          if (!flags.follow) return;
          const reader = await bus.journalReader("pi-gateway:cli:tail");
          let stop = false;
          const onSignal = () => {
            stop = true;
            reader.close();
          };
          process.once("SIGINT", onSignal);
          process.once("SIGTERM", onSignal);
          // Follow from the newest entry that exists now (not "$", which would skip entries
          // written between two reads).
          let last = recent.at(-1)?.streamId ?? (await bus.journal(1)).at(-1)?.streamId ?? "0-0";
          while (!stop) {
            const entries = await reader.next(last, 1_000).catch((error: Error) => {
              if (stop) return [];
              throw error;
            });
            for (const entry of entries) {
              show(entry);
              last = entry.streamId;
            }
          }
        });
      }),
    );
}

function formatEntry(entry: JournalEntry): string {
  const time = new Date(entry.at).toISOString().replace("T", " ").replace("Z", "");
  const to = entry.sessions.length ? ` -> ${entry.sessions.join(",")}` : "";
  switch (entry.kind) {
    case "pushed":
      return `${time}  pushed       ${entry.type ?? "?"} (${entry.source ?? "?"}) ${entry.id}${to}`;
    case "delivered":
      return `${time}  delivered    ${entry.id}${to}`;
    case "dead-letter":
      return `${time}  dead-letter  ${entry.id || "(no id)"}${to}: ${entry.reason ?? ""}`;
    case "duplicate":
      return `${time}  duplicate    ${entry.id}${to}: ${entry.reason ?? "already delivered"}, not delivered again`;
    case "id-assigned":
      return `${time}  id-assigned  ${entry.id}${to}: ${entry.reason ?? "the entry had no id: assigned one from its content"}`;
    case "retry":
      return `${time}  retry        ${entry.id}${to}: ${entry.reason ?? ""}`;
    case "notify":
      // Anyone may send a notification: its sender and text never reach the terminal as control characters.
      return `${time}  notify       ${oneLine(entry.source ?? "?")}: ${oneLine(entry.reply ?? "")}`;
    case "notified":
      return `${time}  notified     ${entry.id} -> ${entry.channel || "(no channel)"}`;
    case "replied":
      return `${time}  replied      ${replyOrigin(entry)}${to}: ${entry.reply || "(no text)"}`;
    default:
      return `${time}  ${entry.kind}  ${entry.id}`;
  }
}

/** Who a `replied` entry answered: the channel, and the event types and sources of an event turn. */
function replyOrigin(entry: JournalEntry): string {
  const what = [entry.type, entry.source && `(${entry.source})`].filter(Boolean).join(" ");
  return `${entry.channel ?? "?"} ${entry.id}${what ? ` ${what}` : ""}`;
}
