/**
 * What several views read: the connection, the authorisation, the prompts and replies of this
 * page, the daemon's last status. Each module keeps the rest of its state to itself.
 */
import type { DaemonStatus } from "../../daemon/types.js";
import type { TextSegment } from "./text-segment.js";

export type ConnState = "connecting" | "connected" | "reconnecting" | "unauthorized";

/** A prompt sent but not acknowledged with `queued`: resent (same id) after a reconnect. */
export interface PendingPrompt {
  text: string;
  node: HTMLElement;
}

/** A tool line in a streaming reply. */
export interface ToolView {
  name: string;
  line: HTMLElement;
  startedAt: number;
}

/** One reply of the agent (by request id): its bubble once it started, the prompt that asked. */
export interface ReplyView {
  requestId: string;
  /** This page's own prompt bubble, when this page asked. */
  user?: HTMLElement | undefined;
  node?: HTMLElement;
  body?: HTMLElement;
  /** The whole streamed text, and the text segment deltas go into (a new one after each tool line). */
  text: string;
  segment: TextSegment | null;
  tools: ToolView[];
  startedAt: number;
  done: boolean;
}

/** A reply whose bubble is on the page (it started). */
export interface LiveReply extends ReplyView {
  node: HTMLElement;
  body: HTMLElement;
}

export function isLive(reply: ReplyView | undefined): reply is LiveReply {
  return !!reply?.node && !!reply.body;
}

/** A reply not started yet (no bubble), for a prompt of this page when `user` is its bubble. */
export function pendingReply(requestId: string, user?: HTMLElement): ReplyView {
  return { requestId, user, text: "", segment: null, tools: [], startedAt: Date.now(), done: false };
}

export const state = {
  token: "",
  /** null: not known yet; false: the server refused the token. */
  authorized: null as boolean | null,
  conn: "connecting" as ConnState,
  outbox: new Map<string, PendingPrompt>(),
  replies: new Map<string, ReplyView>(),
  daemon: null as DaemonStatus | null,
};

/** A reply of this page is still streaming. */
export function streaming(): boolean {
  for (const reply of state.replies.values()) if (isLive(reply) && !reply.done) return true;
  return false;
}
