/**
 * The conversation as the daemon's pi session recorded it, for `GET /api/history` and the web page.
 *
 * Where a prompt came from is not in pi's messages: before every prompt the daemon appends a pi
 * *custom entry* (`customType` ORIGIN_ENTRY_TYPE, the origin in `data`) to the session. Custom
 * entries are written to the session file with the messages and survive a restart and resume,
 * but pi never puts them into the LLM's context, so what the model sees is unchanged. The entry
 * names the message that follows it: a user message (a human prompt), or a gateway custom message
 * (an event batch, heartbeat or alarm), whose details give the history one badge per event.
 * Batches the pi-gateway extension injected (when this session file was once run by pi with the
 * extension) are the same custom messages, shown the same way.
 *
 * A heartbeat turn answered with HEARTBEAT_OK ("nothing to report") is left out entirely, as it
 * is from every channel; a human prompt answered that way keeps its prompt but not the reply.
 */
import { eventSummariesOf, GATEWAY_MESSAGE_TYPE, parseGatewayDetails } from "../host/gateway-message.js";
import { isHeartbeatAck } from "../host/heartbeat.js";
import { textOf } from "../host/message-text.js";
import { capText } from "../util/text.js";
import { oneLine } from "./turn-recovery.js";
import type { HistoryItem, InboundMessage, TurnOrigin } from "./types.js";

export type { HistoryItem, TurnOrigin };

/** customType of the entry recording a prompt's origin. */
export const ORIGIN_ENTRY_TYPE = "pi-gateway.origin";
/** Longest prompt or reply text in one history item; the session file keeps the whole. */
export const HISTORY_TEXT_MAX = 20_000;
const TOOL_ARGS_MAX = 160;

/** The origin the daemon records for a command; `requestIds`: the commands of a batched turn. */
export function originOf(message: InboundMessage, requestIds: string[] = [message.id]): TurnOrigin {
  const list = (value: string | undefined) => (value ? value.split(",").filter(Boolean) : undefined);
  const types = list(message.meta?.types ?? message.meta?.type);
  const sources = list(message.meta?.sources ?? message.meta?.source);
  let kind: TurnOrigin["kind"] = "prompt";
  if (message.channel === "heartbeat") kind = "heartbeat";
  else if (message.channel === "watchdog") kind = "alarm";
  else if (message.priority !== "human") kind = sources?.length && sources.every((s) => s.startsWith("webhook:")) ? "webhook" : "event";
  const origin: TurnOrigin = { kind, channel: message.channel, requestId: message.id };
  if (requestIds.length > 1) origin.requestIds = requestIds;
  if (types) origin.types = types;
  if (sources) origin.sources = sources;
  if (message.meta?.from) origin.from = message.meta.from;
  return origin;
}

interface EntryLike {
  type: string;
  id: string;
  timestamp?: string;
  customType?: string;
  data?: unknown;
  details?: unknown;
  content?: unknown;
  message?: {
    role?: string;
    content?: unknown;
    stopReason?: string;
    errorMessage?: string;
    toolCallId?: string;
    isError?: boolean;
    timestamp?: number;
  };
}

/** Every item of the conversation, oldest first, from the entries of the session's current branch. */
export function buildHistory(entries: readonly unknown[]): HistoryItem[] {
  const turns: HistoryItem[][] = [];
  const tools = new Map<string, Extract<HistoryItem, { kind: "tool" }>>();
  let origin: TurnOrigin | undefined;
  for (const raw of entries as EntryLike[]) {
    const at = raw.message?.timestamp ?? (Date.parse(raw.timestamp ?? "") || 0);
    if (raw.type === "custom" && raw.customType === ORIGIN_ENTRY_TYPE) {
      origin = raw.data as TurnOrigin;
    } else if (raw.type === "custom_message" && raw.customType === GATEWAY_MESSAGE_TYPE) {
      turns.push([gatewayPrompt(raw, at, origin)]);
      origin = undefined;
    } else if (raw.type === "message" && raw.message?.role === "user") {
      turns.push([{ id: raw.id, kind: "prompt", at, origin: origin ?? null, text: cap(textOf(raw.message.content)) }]);
      origin = undefined;
    } else if (raw.type === "message" && raw.message?.role === "assistant") {
      if (!turns.length) turns.push([]);
      turns.at(-1)!.push(...assistantItems(raw, at, tools));
    } else if (raw.type === "message" && raw.message?.role === "toolResult") {
      const tool = tools.get(raw.message.toolCallId ?? "");
      if (tool) tool.status = raw.message.isError ? "error" : "ok";
    }
  }
  return turns.flatMap(withoutHeartbeatAcks);
}

/** Items of one session file, and the file it continued (see session-rotation.ts), read on demand. */
export interface HistorySegment {
  items: HistoryItem[];
  older?: () => HistorySegment | undefined;
}

/**
 * A page across continued session files: the newest file first, an older one read only when the
 * page reaches into it (`before` not in the files read so far, or fewer than `limit` items before it).
 */
export function pageHistoryAcross(newest: HistorySegment, limit: number, before?: string): { items: HistoryItem[]; more: boolean } | undefined {
  let items = newest.items;
  let older = newest.older;
  for (;;) {
    const end = before === undefined ? items.length : items.findIndex((item) => item.id === before);
    if (end >= 0 && (end >= limit || !older)) {
      const page = pageHistory(items, limit, before)!;
      return { items: page.items, more: page.more || older !== undefined };
    }
    if (!older) return undefined;
    const segment = older();
    older = segment?.older;
    if (segment) items = [...segment.items, ...items];
  }
}

/** A page of history: the `limit` items before the item `before` (or the newest), oldest first. */
export function pageHistory(items: HistoryItem[], limit: number, before?: string): { items: HistoryItem[]; more: boolean } | undefined {
  const end = before === undefined ? items.length : items.findIndex((item) => item.id === before);
  if (end < 0) return undefined;
  const start = Math.max(0, end - limit);
  return { items: items.slice(start, end), more: start > 0 };
}

/**
 * A gateway message (the daemon's events since they became custom messages, or a batch the pi-gateway
 * extension injected when pi ran this file): a prompt item with one badge per event. The daemon
 * records the origin before it; the extension does not, its details say enough.
 */
function gatewayPrompt(entry: EntryLike, at: number, recorded: TurnOrigin | undefined): HistoryItem {
  const details = parseGatewayDetails(entry.details);
  const kinds = { alarm: "alarm", heartbeat: "heartbeat", events: "event" } as const;
  const origin: TurnOrigin = recorded ?? { kind: kinds[details?.kind ?? "events"], channel: "extension", requestId: String(details?.batch ?? entry.id) };
  const events = details && eventSummariesOf(details);
  return { id: entry.id, kind: "prompt", at, origin, text: cap(textOf(entry.content)), ...(events?.length ? { events } : {}) };
}

function assistantItems(entry: EntryLike, at: number, tools: Map<string, Extract<HistoryItem, { kind: "tool" }>>): HistoryItem[] {
  const message = entry.message!;
  const parts = Array.isArray(message.content) ? (message.content as Array<Record<string, unknown>>) : [];
  const items: HistoryItem[] = [];
  parts.forEach((part, index) => {
    if (part.type !== "toolCall") return;
    const tool = {
      id: `${entry.id}:${index}`,
      kind: "tool" as const,
      at,
      name: String(part.name ?? "tool"),
      args: toolArgs(part.arguments),
      status: "pending" as const,
    };
    tools.set(String(part.id ?? ""), tool);
    items.push(tool);
  });
  const text = textOf(message.content);
  const error =
    message.stopReason === "error" ? (message.errorMessage ?? "the model returned an error") : message.stopReason === "aborted" ? "aborted" : undefined;
  if (text.trim() || error) items.push({ id: entry.id, kind: "reply", at, text: cap(text), ...(error ? { error: oneLine(error, 300) } : {}) });
  return items;
}

/** A turn answered HEARTBEAT_OK: gone if nobody asked, only the reply gone if a human did. */
function withoutHeartbeatAcks(turn: HistoryItem[]): HistoryItem[] {
  const replies = turn.filter((item) => item.kind === "reply");
  const last = replies.at(-1);
  if (!last || !isHeartbeatAck(last.text)) return turn;
  const first = turn[0];
  if (first?.kind === "prompt" && first.origin?.kind === "prompt") return turn.filter((item) => !(item.kind === "reply" && isHeartbeatAck(item.text)));
  return [];
}

/** Tool arguments as one short line: `key=value` pairs, strings unquoted. */
function toolArgs(args: unknown): string {
  if (!args || typeof args !== "object") return "";
  const pairs = Object.entries(args as Record<string, unknown>).map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`);
  return pairs.length ? oneLine(pairs.join(" "), TOOL_ARGS_MAX) : "";
}

function cap(text: string): string {
  return capText(text, HISTORY_TEXT_MAX);
}
