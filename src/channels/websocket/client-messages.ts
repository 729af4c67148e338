/**
 * What a client's frame means: parsed and validated against the protocol (anything else is answered
 * with `invalid`), then handled by the one function for its message type.
 */
import type { RawData } from "ws";
import type { ChannelContext } from "../../daemon/types.js";
import { ClientMessageSchema, type ClientMessage } from "../../daemon/ws-protocol.js";
import type { Logger } from "../../util/logger.js";
import { releaseHeld, type Connection, type Send } from "./connection.js";

export const WEBSOCKET_CHANNEL = "websocket";

/** What a handler may use: the client, the daemon behind the channel, and how to answer. */
export interface ClientScope {
  connection: Connection;
  daemon: ChannelContext;
  send: Send;
  logger: Logger;
}

/** The client message in a frame, or why there is none (sent back as `invalid`). */
export function parseFrame(data: RawData, isBinary: boolean): { message: ClientMessage } | { invalid: string } {
  if (isBinary) return { invalid: "binary frames are not supported: send JSON text" };
  let value: unknown;
  try {
    value = JSON.parse(rawText(data));
  } catch (error) {
    return { invalid: `not JSON: ${(error as Error).message}` };
  }
  const parsed = ClientMessageSchema.safeParse(value);
  if (parsed.success) return { message: parsed.data };
  const issues = parsed.error.issues.map((issue) => `${issue.path.join(".") || "message"}: ${issue.message}`).join("; ");
  return { invalid: `invalid message: ${issues}` };
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString("utf8");
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString("utf8");
  return data.toString("utf8");
}

type Handlers = { [Type in ClientMessage["type"]]: (message: Extract<ClientMessage, { type: Type }>, scope: ClientScope) => Promise<void> };

const handlers: Handlers = {
  prompt: submitPrompt,
  abort: async (_message, { daemon }) => daemon.control.abort(),
  status: async (_message, { connection, daemon, send }) => send(connection, { type: "status", status: await daemon.control.status() }),
};

export function handleClientMessage(message: ClientMessage, scope: ClientScope): Promise<void> {
  const handler = handlers[message.type] as (message: ClientMessage, scope: ClientScope) => Promise<void>;
  return handler(message, scope);
}

/**
 * Queues the prompt as a human command replying to this connection. Its request id is
 * `ws:<client id>`, so a prompt re-sent after a reconnect is recognised as a duplicate; replies
 * racing the submit are held back until "queued" is out.
 */
async function submitPrompt(message: Extract<ClientMessage, { type: "prompt" }>, scope: ClientScope): Promise<void> {
  const { connection, daemon, send, logger } = scope;
  const requestId = `ws:${message.id}`;
  connection.held.set(requestId, []);
  try {
    const result = await daemon.commands.submit({
      id: requestId,
      channel: WEBSOCKET_CHANNEL,
      text: message.text,
      priority: "human",
      replyTo: { channel: WEBSOCKET_CHANNEL, to: connection.client },
      meta: { connection: connection.id, client: connection.client },
    });
    send(connection, { type: "queued", id: message.id, requestId: result.requestId, duplicate: result.status === "duplicate" });
  } catch (error) {
    logger.error({ connection: connection.id, requestId, err: error }, "could not queue websocket prompt");
    send(connection, { type: "error", requestId, message: `could not queue the prompt: ${(error as Error).message}` });
  }
  releaseHeld(connection, requestId, send);
}
