/**
 * What one drained batch of events becomes for the agent, the same in the extension and the daemon.
 *
 * A heartbeat never competes with real work (the lesson of heartbeat turns that blocked chat for
 * 30-90 s at a time): in a batch with other events only those are shown; alone, it asks the agent
 * to work through its checklist only while the agent has nothing else to do, otherwise it just
 * feeds the watchdog (the host does that for every heartbeat, shown or not).
 */
import { HEARTBEAT_EVENT_TYPE, type GatewayEvent } from "../protocol/event.js";
import { formatEventPrompt } from "./event-prompt.js";
import { heartbeatInstruction } from "./heartbeat.js";

export interface BatchMessage {
  /** "heartbeat": the batch held only heartbeats and the agent is asked for its checklist. */
  kind: "events" | "heartbeat";
  text: string;
  /** The events the text shows. */
  shown: GatewayEvent[];
  /**
   * Every id of the batch, shown or not: what the host records as received, so a heartbeat left
   * out next to real events is not handed out again after a crash.
   */
  ids: string[];
}

export interface BatchMessageOptions {
  /** The checklist a heartbeat asks the agent to read. */
  heartbeatFile: string;
  /** Does the agent have other work (a running turn, queued commands)? Asked only for a heartbeat-only batch. */
  busy: () => boolean | Promise<boolean>;
  /** Events the message shows one by one; the rest are summed up (event-prompt.ts). Default SHOWN_EVENTS_MAX. */
  shownMax?: number;
}

export function isHeartbeat(event: Pick<GatewayEvent, "type">): boolean {
  return event.type === HEARTBEAT_EVENT_TYPE;
}

/** The message for a batch, or undefined when there is nothing to show (heartbeats while the agent is busy). */
export async function messageForBatch(events: GatewayEvent[], options: BatchMessageOptions): Promise<BatchMessage | undefined> {
  const ids = events.map((e) => e.id);
  const others = events.filter((e) => !isHeartbeat(e));
  const { shownMax } = options;
  if (others.length) return { kind: "events", text: formatEventPrompt(others, { shownMax }), shown: others, ids };
  if (!events.length || (await options.busy())) return undefined;
  return { kind: "heartbeat", text: formatEventPrompt(events, { closing: heartbeatInstruction(options.heartbeatFile), shownMax }), shown: events, ids };
}
