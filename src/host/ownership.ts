/**
 * Session ownership as both hosts see it: the consumer that holds the session id's lease and
 * drains its queues, the changes of hands a host reports to its user (held by another instance,
 * lost to one, acquired), and the tripwire for a predecessor that died without shutting down.
 */
import type { GatewayBus, LeaseHolder, PreviousRegistration, SessionRole } from "../bus/bus.js";
import { EventConsumer, type ConsumerOptions, type PresenceLapse } from "../bus/consumer.js";
import { formatDuration } from "../config/duration.js";
import { createEvent, type GatewayEvent } from "../protocol/event.js";
import { DEFAULT_CENTRAL_SESSION } from "../protocol/keys.js";

/** Who the host is on the bus. */
export interface HostSession {
  sessionId: string;
  role: SessionRole;
  /** Stable ids keep their queue while down; ephemeral ones are reaped when they die. */
  durable: boolean;
}

/** The id's lease changed hands: another live instance holds it, took it from this one, or this one got it (`waited`: after waiting for a holder to go). */
export type OwnershipChange = { kind: "held" | "lost"; holder: LeaseHolder } | { kind: "acquired"; waited: boolean };

/**
 * The queues a session drains besides its own. Only the owner of the central id (`gateway`) serves
 * the original single-session queue (`agent:events:main`): a second central under another id
 * (`GATEWAY_ROLE=central GATEWAY_ID=x`, or a second daemon told to pick another GATEWAY_ID) would
 * otherwise silently split what raw producers put there. Pushed events reach every central anyway.
 */
export function extraQueuesFor(sessionId: string, role: SessionRole, legacySession: string): string[] {
  return role === "central" && sessionId === DEFAULT_CENTRAL_SESSION ? [legacySession] : [];
}

/** The consumer of a session: its own queue, and the legacy `main` queue for the owner of the central id. */
export function sessionConsumer(
  bus: GatewayBus,
  session: HostSession,
  options: Omit<ConsumerOptions, "bus" | "sessionId" | "role" | "durable" | "extraQueues">,
): EventConsumer {
  return new EventConsumer({
    ...options,
    bus,
    sessionId: session.sessionId,
    role: session.role,
    durable: session.durable,
    extraQueues: extraQueuesFor(session.sessionId, session.role, bus.options.legacySession),
  });
}

/** Forwards the consumer's changes of hands as one kind of report. */
export function followOwnership(consumer: EventConsumer, report: (change: OwnershipChange) => void): void {
  consumer.on("held", (holder) => report({ kind: "held", holder }));
  consumer.on("lost", (holder) => report({ kind: "lost", holder }));
  consumer.on("acquired", ({ waited }) => report({ kind: "acquired", waited }));
}

/**
 * The event that tells the agent (and, through the journal, any channel that follows it) that its
 * session was restarted after dying; targeted at the session itself.
 */
export function restartedEvent(sessionId: string, previous: PreviousRegistration): GatewayEvent {
  const payload = { session: sessionId, previous: previous.instance, pid: previous.pid, host: previous.host };
  return createEvent("gateway.session.restarted", "pi-gateway", payload, { target: sessionId });
}

/** One line for the user about a crashed predecessor. */
export function restartedNotice(sessionId: string, previous: PreviousRegistration): string {
  const where = previous.pid ? ` (pid ${previous.pid} on ${previous.host || "?"})` : "";
  return `gateway: the previous ${sessionId} session${where} died without shutting down; restarted`;
}

/** One line for the user when this session's presence had lapsed (frozen process, Redis away). */
export function presenceLapsedNotice(session: HostSession, lapse: PresenceLapse): string {
  const how = lapse.lapsedMs ? ` for ${formatDuration(lapse.lapsedMs)}` : "";
  if (!lapse.reaped) return `gateway: ${session.sessionId} was not seen${how} (GATEWAY_PRESENCE_TTL): pushes to it were refused meanwhile; live again`;
  const left = session.durable ? "its queue was kept" : "events left for it were dead-lettered (pi-gateway dead-letters)";
  return `gateway: ${session.sessionId} was not seen${how} and was reaped as dead: ${left}; registered again`;
}
