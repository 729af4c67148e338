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
  | { type: "hello"; connection: string; version: string }
  /** The prompt is stored in the queue; replies for it carry requestId. */
  | { type: "queued"; id: string; requestId: string; duplicate: boolean }
  | ReplyEvent
  | { type: "status"; status: DaemonStatus }
  /** A notification for the owner (`pi-gateway notify`), sent to every client. */
  | ({ type: "notify" } & OwnerNotice)
  /** A protocol error about the client's own frame (bad JSON, unknown type). */
  | { type: "invalid"; message: string };
