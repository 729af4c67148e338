/**
 * The WebSocket protocol between the daemon and its clients (`pi-gateway chat`, the web page).
 * JSON text frames. Authentication happens before the upgrade (token in the
 * `Authorization: Bearer` header or, for browsers, the `token` query parameter); without a valid
 * token the upgrade is refused with 401 (fail closed).
 */
import { z } from "zod";
import type { DaemonStatus, OwnerNotice, ReplyEvent } from "./types.js";

export const ClientMessageSchema = z.discriminatedUnion("type", [
  /** `id` is the client's own message id: resending the same id is recognised as a duplicate. */
  z.object({ type: z.literal("prompt"), id: z.string().min(1).max(200), text: z.string().min(1).max(100_000) }),
  z.object({ type: z.literal("abort") }),
  z.object({ type: z.literal("status") }),
]);
export type ClientMessage = z.infer<typeof ClientMessageSchema>;

export type ServerMessage =
  /**
   * First message on a connection. `client`: the id replies are addressed to (reconnect with
   * `?client=<client>&epoch=<epoch>&after=<last seq seen>` to get what was missed); `resumed`: the
   * daemon knew the client; `missed`: how many replies follow that were sent while it was away.
   */
  | { type: "hello"; connection: string; client: string; epoch: string; resumed: boolean; missed: number; version: string }
  /** The prompt is stored in the queue; replies for it carry requestId. */
  | { type: "queued"; id: string; requestId: string; duplicate: boolean }
  /** A reply for this client, numbered (`seq`) so a reconnect can say what it already has; broadcasts carry none. */
  | (ReplyEvent & { seq?: number })
  /** Replies missed while away that were no longer kept (the outbox holds the newest 1,000). */
  | { type: "gap"; lost: number }
  | { type: "status"; status: DaemonStatus }
  /** A notification for the owner (`pi-gateway notify`), sent to every client. */
  | ({ type: "notify" } & OwnerNotice)
  /** A protocol error about the client's own frame (bad JSON, unknown type). */
  | { type: "invalid"; message: string };
