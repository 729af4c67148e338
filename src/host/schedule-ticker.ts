/**
 * Fires due schedules (src/bus/schedules.ts) while this process owns the central session id. It
 * sleeps until the next due time, at most a second, so a schedule added by anyone (the CLI, another
 * host) fires within about a second of its time without a subscription; losing the lease stops the
 * firing at the next round. Two processes both believing they own would still fire each due time
 * once: the store's push dedup and compare-and-set make that safe, this only keeps it rare.
 */
import type { GatewayBus } from "../bus/bus.js";
import type { Logger } from "../util/logger.js";
import { capText, escapeControls } from "../util/text.js";
import { OwnerLoop } from "./owner-loop.js";

/** Longest sleep between two looks at the due set. */
export const SCHEDULE_TICK_MAX_MS = 1_000;

export function startScheduleTicker(bus: GatewayBus, isOwner: () => boolean, logger: Logger): OwnerLoop {
  const store = bus.schedules;
  return new OwnerLoop({
    name: "schedules",
    isOwner,
    maxWaitMs: SCHEDULE_TICK_MAX_MS,
    logger,
    step: async () => {
      const now = await bus.serverTime();
      for (const firing of await store.fireDue(now)) {
        if (firing.push === "pushed") logger.info({ schedule: firing.id, dueAt: firing.dueAt }, "schedule fired");
        else if (firing.push === "skipped" && firing.advanced) {
          logger.warn({ schedule: escapeControls(capText(firing.id, 100)), dueAt: firing.dueAt }, "schedule dropped: its stored record is unreadable");
        }
      }
      const next = await store.nextDue();
      return next === null ? SCHEDULE_TICK_MAX_MS : next - (await bus.serverTime());
    },
  }).start();
}
