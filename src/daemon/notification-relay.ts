/**
 * Delivers pending owner notifications (src/bus/notifications.ts) through the outbound router
 * while this daemon owns the central id, and marks each delivered (journal `notified`). A crash
 * between delivery and mark shows that one notification again on the next start: at least once.
 */
import type { GatewayBus } from "../bus/bus.js";
import { OwnerLoop } from "../host/owner-loop.js";
import type { Logger } from "../util/logger.js";
import type { OutboundRouter } from "./router.js";

const RELAY_BATCH = 50;
/** How often pending notifications are looked for. */
export const NOTIFY_POLL_MS = 500;

export function startNotificationRelay(bus: GatewayBus, router: OutboundRouter, isOwner: () => boolean, logger: Logger): OwnerLoop {
  const store = bus.notifications;
  return new OwnerLoop({
    name: "notifications",
    isOwner,
    maxWaitMs: NOTIFY_POLL_MS,
    logger,
    step: async () => {
      const pending = await store.pending(RELAY_BATCH);
      for (const notice of pending) {
        const channels = await router.notify(notice);
        await store.markDelivered(notice.id, channels);
        logger.info({ notification: notice.id, from: notice.from, channels }, "notification delivered");
      }
      return pending.length === RELAY_BATCH ? 0 : NOTIFY_POLL_MS;
    },
  }).start();
}
