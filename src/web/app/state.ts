/**
 * What several views read: the connection, the authorisation, the prompts and replies of this
 * page, the daemon's last status. Each module keeps the rest of its state to itself.
 */
import type { DaemonStatus } from "../../daemon/types.js";

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
  segment: { node: HTMLElement; source: string } | null;
  tools: ToolView[];
  startedAt: number;
  done: boolean;
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
  for (const reply of state.replies.values()) if (reply.node && !reply.done) return true;
  return false;
}
