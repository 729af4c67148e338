/**
 * One WebSocket client of the channel: its id, its socket and the replies held back behind "queued";
 * sending to it (dropping it when it reads too slowly), pinging it, and closing it on shutdown.
 */
import { randomBytes } from "node:crypto";
import { WebSocket } from "ws";
import type { ReplyEvent } from "../../daemon/types.js";
import type { ServerMessage } from "../../daemon/ws-protocol.js";
import type { Logger } from "../../util/logger.js";

export interface Connection {
  id: string;
  /** The client it belongs to (clients.ts): replies are addressed to it, and outlive the socket. */
  client: string;
  socket: WebSocket;
  /** Answered the last ping (or sent a frame) since the previous heartbeat tick. */
  alive: boolean;
  /** Request ids whose "queued" is not sent yet, with the replies held back meanwhile. */
  held: Map<string, ReplyEvent[]>;
}

export type Send = (connection: Connection, message: ServerMessage) => void;

/** A random, unguessable id: replies are routed by it, so it must not be predictable. */
export function newConnection(socket: WebSocket): Connection {
  return { id: `c-${randomBytes(16).toString("base64url")}`, client: "", socket, alive: true, held: new Map() };
}

/** Sends JSON to open sockets; a client whose unsent backlog passed `maxBuffered` is too slow and dropped. */
export function createSend(maxBuffered: number, logger: Logger): Send {
  return (connection, message) => {
    const { socket } = connection;
    if (socket.readyState !== WebSocket.OPEN) return;
    if (socket.bufferedAmount > maxBuffered) {
      logger.warn({ connection: connection.id, buffered: socket.bufferedAmount }, "websocket client too slow, dropping it");
      socket.terminate();
      return;
    }
    socket.send(JSON.stringify(message), (error) => {
      if (error) logger.debug({ connection: connection.id, err: error }, "websocket send failed");
    });
  };
}

/** A reply for a request whose "queued" is still on its way waits; any other goes out now. */
export function sendOrHold(connection: Connection, event: ReplyEvent, send: Send): void {
  const held = connection.held.get(event.requestId);
  if (held) held.push(event);
  else send(connection, event);
}

/** Sends the replies held back for `requestId` (its "queued" is out) and stops holding. */
export function releaseHeld(connection: Connection, requestId: string, send: Send): void {
  const held = connection.held.get(requestId) ?? [];
  connection.held.delete(requestId);
  for (const event of held) send(connection, event);
}

/** One heartbeat tick: drops the clients that missed the previous ping, pings the others. */
export function pingOrDrop(connections: Iterable<Connection>, logger: Logger): void {
  for (const connection of connections) {
    if (!connection.alive) {
      logger.info({ connection: connection.id }, "websocket client missed a heartbeat, dropping it");
      connection.socket.terminate();
      continue;
    }
    connection.alive = false;
    try {
      connection.socket.ping();
    } catch {
      connection.socket.terminate();
    }
  }
}

/** Closes with 1001 and resolves once closed; a client that does not answer within 1 s is cut off. */
export function closeConnection(connection: Connection): Promise<void> {
  return new Promise<void>((resolve) => {
    const { socket } = connection;
    if (socket.readyState === WebSocket.CLOSED) return resolve();
    const timer = setTimeout(() => {
      socket.terminate();
      resolve();
    }, 1_000);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
    socket.close(1001, "gateway shutting down");
  });
}
