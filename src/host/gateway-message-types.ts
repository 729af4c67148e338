/**
 * The shapes of a gateway message's details (see gateway-message.ts), without imports: the web
 * page's bundle reads them as types too.
 */

export type GatewayMessageKind = "events" | "heartbeat" | "alarm";

/** One event as a renderer shows it: the line's fields and a bounded payload preview. */
export interface EventSummary {
  id: string;
  type: string;
  source: string;
  /** Producer's timestamp (ms since the epoch; 0 when unknown). */
  ts: number;
  originSession?: string;
  /** The payload as text (JSON pretty-printed), cut to PREVIEW_MAX; absent when empty. */
  preview?: string;
  /** Characters of the whole payload text, when the preview is cut (or left out for the total cap). */
  payloadChars?: number;
}

export interface GatewayMessageDetails {
  kind: GatewayMessageKind;
  /** Unique per delivery attempt: identifies the entry pi writes for this message. */
  batch: string;
  /** Event ids the message carries; the session's record of what was delivered. */
  ids: string[];
  /**
   * Event ids the message shows again: a replay after a restart or a retry after a failure, whose
   * events an earlier message of the session already carries in its `ids` (recorded once, there).
   */
  again?: string[];
  /**
   * Events the message carries (heartbeats left out next to real events not counted). Absent in
   * entries written before it, whose `types` had one value per event.
   */
  count?: number;
  /** Distinct event types and sources of the batch (for the `replied` journal entry and history badges). */
  types?: string[];
  sources?: string[];
  /** The events the prompt shows one by one, one summary each (at most SUMMARIES_MAX); the rest are only counted. */
  events?: EventSummary[];
  /** The daemon's commands this message answers (its turn's request ids). */
  requests?: string[];
  /** A watchdog alarm: how long the heartbeat has been missing. */
  elapsedMs?: number;
}
