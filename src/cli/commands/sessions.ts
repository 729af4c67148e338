import type { Command } from "commander";
import type { SessionInfo } from "../../bus/bus.js";
import { action, ago, globalOptions, print, printJson, table, withBus } from "../context.js";

export function registerSessions(program: Command): void {
  program
    .command("sessions")
    .description("list registered sessions with their role, presence, queue and owner (the one instance that drains each id)")
    .option("--reap", "remove sessions whose process died (their undelivered events are dead-lettered)")
    .action(
      action(async (flags: { reap?: boolean }, command: Command) => {
        const options = globalOptions(command);
        await withBus(options, async (bus) => {
          const reaped = flags.reap ? await bus.reapExpired() : [];
          const sessions = await bus.sessions();
          if (options.json) return printJson({ sessions, reaped });
          for (const r of reaped) print(`reaped ${r.id} (${r.deadLettered} undelivered events dead-lettered)`);
          if (!sessions.length) return print("no sessions registered (events go to the legacy 'main' queue)");
          print(sessionTable(sessions));
        });
      }),
    );
}

function presenceLabel(session: SessionInfo): string {
  if (session.live) return "live";
  return session.durable ? "offline" : "dead";
}

/** "rss 160M, heap 48M" of a live session's process (heap: after its latest full GC); "-" when not known or not live. */
function memoryLabel(session: SessionInfo): string {
  const m = session.live ? session.memory : undefined;
  if (!m) return "-";
  const mib = (bytes: number) => `${Math.round(bytes / (1024 * 1024))}M`;
  return `rss ${mib(m.rss)}${m.liveHeap !== undefined ? `, heap ${mib(m.liveHeap)}` : ""}`;
}

export function sessionTable(sessions: SessionInfo[]): string {
  return table(
    ["SESSION", "ROLE", "STATE", "PENDING", "IN-FLIGHT", "OWNER", "HOST", "SINCE", "SEEN", "MEMORY", "CWD"],
    sessions.map((s) => [
      s.id,
      s.role,
      presenceLabel(s),
      String(s.pending),
      String(s.inFlight),
      // The one instance allowed to drain the id (the last one, when the session is not live).
      `${s.kind ?? "?"}${s.pid ? ` pid ${s.pid}` : ""}`,
      s.host ?? "-",
      ago(s.started),
      ago(s.lastSeen),
      memoryLabel(s),
      s.cwd ?? "-",
    ]),
  );
}
