/**
 * What the session itself says about a command's turn. A gateway message's details name the
 * commands it answers (`requests`), so after a crash the daemon can tell, from the session alone, a
 * turn that ended (the crash came between the reply and the queue's bookkeeping: nothing to run
 * again) from one that was cut short (replayed, with the note that says so).
 */
import { GATEWAY_MESSAGE_TYPE, parseGatewayDetails } from "../host/gateway-message.js";
import { textOf } from "../host/message-text.js";

interface EntryLike {
  type?: string;
  customType?: string;
  details?: unknown;
  message?: { role?: string; content?: unknown; stopReason?: string };
}

/**
 * The reply of the last turn whose gateway message answered every one of `requestIds`, when that
 * turn ended normally (its last message an assistant's, stopped by the model, before any other
 * prompt); undefined when there is no such message or the turn did not end.
 */
export function answeredInSession(entries: readonly unknown[], requestIds: readonly string[]): string | undefined {
  const list = entries as EntryLike[];
  const start = list.findLastIndex((entry) => {
    if (entry.type !== "custom_message" || entry.customType !== GATEWAY_MESSAGE_TYPE) return false;
    const requests = parseGatewayDetails(entry.details)?.requests;
    return requestIds.length > 0 && requestIds.every((id) => requests?.includes(id));
  });
  if (start < 0) return undefined;
  const turn: NonNullable<EntryLike["message"]>[] = [];
  for (const entry of list.slice(start + 1)) {
    if (isPrompt(entry)) break;
    if (entry.type === "message" && entry.message) turn.push(entry.message);
  }
  const last = turn.at(-1);
  if (last?.role !== "assistant" || last.stopReason !== "stop") return undefined;
  const texts = turn.filter((m) => m.role === "assistant").map((m) => textOf(m.content));
  return texts.filter((t) => t.trim()).at(-1) ?? "";
}

function isPrompt(entry: EntryLike): boolean {
  return (entry.type === "message" && entry.message?.role === "user") || (entry.type === "custom_message" && entry.customType === GATEWAY_MESSAGE_TYPE);
}

/**
 * Which of `ids` the session already records: named in the `ids` of one of its gateway messages.
 * A command shown again (replayed after a restart, retried after a failure) finds the message of
 * its earlier attempt here when pi wrote it before the attempt ended.
 */
export function heldEventIds(entries: readonly unknown[], ids: readonly string[]): Set<string> {
  const wanted = new Set(ids);
  const held = new Set<string>();
  if (wanted.size === 0) return held;
  for (const entry of entries as EntryLike[]) {
    if (entry.type !== "custom_message" || entry.customType !== GATEWAY_MESSAGE_TYPE) continue;
    for (const id of parseGatewayDetails(entry.details)?.ids ?? []) if (wanted.has(id)) held.add(id);
  }
  return held;
}
