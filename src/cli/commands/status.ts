import type { Command } from "commander";
import type { QueueLoad } from "../../bus/command-queue.js";
import { redactUrl } from "../../bus/connection.js";
import { serverKind } from "../../bus/bus.js";
import { describeHolder } from "../../bus/lease.js";
import { formatDuration } from "../../config/duration.js";
import { DEFAULT_CENTRAL_SESSION } from "../../protocol/keys.js";
import { action, ago, globalOptions, print, printJson, withBus } from "../context.js";
import { sessionTable } from "./sessions.js";

export function registerStatus(program: Command): void {
  program
    .command("status")
    .description("Redis reachability, sessions, backlog per queue, dead letters and last heartbeat")
    .action(
      action(async (_flags: object, command: Command) => {
        const options = globalOptions(command);
        await withBus(options, async (bus) => {
          const daemonQueue = bus.commandQueue(DEFAULT_CENTRAL_SESSION);
          const [status, central, daemon, notifications] = await Promise.all([
            bus.status(),
            bus.leaseHolder(DEFAULT_CENTRAL_SESSION),
            daemonQueue.load(),
            bus.notifications.pendingCount(),
          ]);
          status.redis.url = redactUrl(status.redis.url);
          if (options.json) return printJson({ ok: true, ...status, central: central ?? null, daemonQueue: daemon, pendingNotifications: notifications });
          const r = status.redis;
          print(
            `redis        ${r.url} (${r.primaries ? `${serverKind(r)}, ` : ""}v${r.version}, ${r.aof ? `AOF on, appendfsync ${r.appendfsync}` : "AOF off: a Redis crash can lose queued events"})`,
          );
          print(`central      ${DEFAULT_CENTRAL_SESSION}: ${central ? `held by ${describeHolder(central)}` : "no live owner (its events wait in its queue)"}`);
          print(`heartbeat    ${status.lastHeartbeat ? `${ago(status.lastHeartbeat)} (${new Date(status.lastHeartbeat).toISOString()})` : "never seen"}`);
          print(`dead letters ${status.deadLetters}${status.deadLetters ? "  (pi-gateway dead-letters to inspect)" : ""}`);
          print(`duplicates   ${status.duplicates}${status.duplicates ? "  (ids seen before, not delivered again: pi-gateway tail --kind duplicate)" : ""}`);
          print(`journal      ${status.journalLength} entries`);
          print(`notify       ${notifications} pending${notifications ? "  (kept until a daemon delivers them: pi-gateway tail --kind notify)" : ""}`);
          print(
            "backlog      " +
              Object.entries(status.backlog)
                .map(([q, n]) => `${q}=${n}`)
                .join("  "),
          );
          print(`daemon queue ${daemonQueueLine(daemon)}`);
          print("");
          print(status.sessions.length ? sessionTable(status.sessions) : "no sessions registered");
        });
      }),
    );
}

/** `human=0  event=12  heartbeat=0; oldest event waiting 3.2s; 0.4 turns/s, 9.5 events/turn (last 60s)` */
function daemonQueueLine(load: QueueLoad): string {
  const depth = Object.entries(load.depth)
    .map(([p, n]) => `${p}=${n}`)
    .join("  ");
  const oldest = load.oldestEventAgeMs === null ? "no event waiting" : `oldest event waiting ${formatDuration(load.oldestEventAgeMs)}`;
  const perTurn = load.eventsPerTurn === null ? "no event turn" : `${load.eventsPerTurn} events/turn`;
  return `${depth}; ${oldest}; ${load.turnsPerSecond} turns/s, ${perTurn} (last ${load.windowSeconds}s)`;
}
