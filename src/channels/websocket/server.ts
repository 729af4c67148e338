/**
 * The WebSocket channel (`/ws`): `pi-gateway chat` and the web page talk to the daemon through it,
 * with the protocol of src/daemon/ws-protocol.ts.
 *
 * - Authentication happens before the upgrade (Bearer header, or `?token=` for browsers), compared
 *   in constant time; an empty configured token refuses everything. A refused upgrade gets a plain
 *   `401 Unauthorized` and the socket is closed.
 * - Each connection gets a random, unguessable id; replies are routed to it (replyTo.to).
 * - Dedup: a prompt's request id is `ws:<client message id>`. Clients use globally unique ids
 *   (UUIDs), so a prompt re-sent after a reconnect (new connection id) is still recognised as a
 *   duplicate and not run twice. Its replies keep going to the connection that first sent it.
 * - "queued" is always sent before any reply event of that request (replies racing the submit
 *   acknowledgement are held back until it is out).
 * - Live turns: every turn, whoever asked (Telegram, events, webhooks, heartbeats, another client),
 *   is broadcast to every connection: its start carries the origin; replies keep their request id.
 * - Heartbeat: every connection is pinged; one that has not answered the previous ping is dropped.
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, WebSocket, type RawData } from "ws";
import { packageVersion } from "../../util/version.js";
import type { Channel, ChannelContext, ReplyEvent } from "../../daemon/types.js";
import { ClientMessageSchema, type ServerMessage } from "../../daemon/ws-protocol.js";
import { silentLogger, type Logger } from "../../util/logger.js";
import { bearerToken, tokenMatches } from "../http/auth.js";

export interface WebSocketChannelOptions {
  /** Clients must present this token; empty refuses every connection. */
  token: string;
  /** Largest client frame accepted (default 1 MiB); bigger ones close the connection (1009). */
  maxPayloadBytes?: number;
  /** Ping interval (default 30 s); a client missing one full interval is dropped. */
  heartbeatMs?: number;
  /** A client whose unsent backlog grows past this (default 16 MiB) is too slow and is dropped. */
  maxBufferedBytes?: number;
  logger?: Logger;
}

export interface WebSocketChannel extends Channel {
  /** Call from the HTTP server's `upgrade` event for the WebSocket path. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Open connections right now. */
  connections(): number;
}

export const WEBSOCKET_CHANNEL = "websocket";

interface Connection {
  id: string;
  socket: WebSocket;
  alive: boolean;
  /** Request ids whose "queued" is not sent yet, with the replies held back meanwhile. */
  held: Map<string, ReplyEvent[]>;
}

export function createWebSocketChannel(options: WebSocketChannelOptions): WebSocketChannel {
  const logger = options.logger ?? silentLogger;
  const maxBuffered = options.maxBufferedBytes ?? 16 * 1024 * 1024;
  const version = packageVersion();
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxPayloadBytes ?? 1024 * 1024, clientTracking: false });
  const open = new Map<string, Connection>();
  let context: ChannelContext | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let stopping = false;

  const send = (connection: Connection, message: ServerMessage): void => {
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

  const refuse = (socket: Duplex, status: number, reason: string, message: string): void => {
    const body = JSON.stringify({ error: message, code: status === 401 ? "UNAUTHORIZED" : "UNAVAILABLE" });
    const response =
      `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    socket.once("error", () => undefined);
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    socket.once("finish", () => socket.destroy());
    socket.end(response);
    // Never leave a half-closed socket behind if the peer does not read.
    setTimeout(() => socket.destroy(), 1_000).unref();
  };

  const onFrame = async (connection: Connection, data: RawData, isBinary: boolean): Promise<void> => {
    if (isBinary) return send(connection, { type: "invalid", message: "binary frames are not supported: send JSON text" });
    let value: unknown;
    try {
      value = JSON.parse(rawText(data));
    } catch (error) {
      return send(connection, { type: "invalid", message: `not JSON: ${(error as Error).message}` });
    }
    const parsed = ClientMessageSchema.safeParse(value);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((issue) => `${issue.path.join(".") || "message"}: ${issue.message}`).join("; ");
      return send(connection, { type: "invalid", message: `invalid message: ${issues}` });
    }
    const ctx = context;
    if (!ctx) return send(connection, { type: "invalid", message: "the gateway is not ready yet" });
    const message = parsed.data;
    switch (message.type) {
      case "prompt": {
        const requestId = `ws:${message.id}`;
        connection.held.set(requestId, []);
        try {
          const result = await ctx.commands.submit({
            id: requestId,
            channel: WEBSOCKET_CHANNEL,
            text: message.text,
            priority: "human",
            replyTo: { channel: WEBSOCKET_CHANNEL, to: connection.id },
            meta: { connection: connection.id },
          });
          send(connection, { type: "queued", id: message.id, requestId: result.requestId, duplicate: result.status === "duplicate" });
        } catch (error) {
          logger.error({ connection: connection.id, requestId, err: error }, "could not queue websocket prompt");
          send(connection, { type: "error", requestId, message: `could not queue the prompt: ${(error as Error).message}` });
        }
        const held = connection.held.get(requestId) ?? [];
        connection.held.delete(requestId);
        for (const event of held) send(connection, event);
        return;
      }
      case "abort":
        await ctx.control.abort();
        return;
      case "status":
        send(connection, { type: "status", status: await ctx.control.status() });
        return;
    }
  };

  const accept = (socket: WebSocket): void => {
    const connection: Connection = { id: `c-${randomBytes(16).toString("base64url")}`, socket, alive: true, held: new Map() };
    open.set(connection.id, connection);
    logger.info({ connection: connection.id }, "websocket client connected");
    socket.on("pong", () => {
      connection.alive = true;
    });
    socket.on("message", (data, isBinary) => {
      connection.alive = true;
      onFrame(connection, data, isBinary).catch((error: unknown) => {
        logger.error({ connection: connection.id, err: error }, "websocket request failed");
        send(connection, { type: "error", requestId: "", message: (error as Error).message });
      });
    });
    socket.on("error", (error) => logger.debug({ connection: connection.id, err: error }, "websocket error"));
    socket.on("close", () => {
      open.delete(connection.id);
      logger.info({ connection: connection.id }, "websocket client disconnected");
    });
    send(connection, { type: "hello", connection: connection.id, version });
  };

  return {
    name: WEBSOCKET_CHANNEL,

    async start(ctx: ChannelContext): Promise<void> {
      context = ctx;
      stopping = false;
      const every = options.heartbeatMs ?? 30_000;
      heartbeat = setInterval(() => {
        for (const connection of open.values()) {
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
      }, every);
      heartbeat.unref();
    },

    async stop(): Promise<void> {
      stopping = true;
      if (heartbeat) clearInterval(heartbeat);
      heartbeat = undefined;
      const closing = [...open.values()].map(
        (connection) =>
          new Promise<void>((resolve) => {
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
          }),
      );
      await Promise.all(closing);
      open.clear();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },

    async deliver(to: string, event: ReplyEvent): Promise<void> {
      const connection = open.get(to);
      if (!connection || connection.socket.readyState !== WebSocket.OPEN) {
        logger.debug({ connection: to, type: event.type }, "websocket reply for a gone client dropped");
        return;
      }
      const held = connection.held.get(event.requestId);
      if (held) held.push(event);
      else send(connection, event);
    },

    /** Every turn to every client but the asker (it gets the same events through deliver, held behind "queued"). */
    async broadcast(event: ReplyEvent, exclude?: string): Promise<void> {
      for (const connection of open.values()) {
        if (connection.id !== exclude) send(connection, event);
      }
    },

    handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
      if (stopping || !context) return refuse(socket, 503, "Service Unavailable", "the gateway is not accepting connections");
      const given = bearerToken(req.headers.authorization) ?? tokenFromQuery(req.url);
      if (!tokenMatches(given, options.token)) {
        logger.warn({ remote: req.socket.remoteAddress, given: Boolean(given) }, "websocket upgrade refused: bad token");
        return refuse(socket, 401, "Unauthorized", given ? "wrong token" : "missing token");
      }
      wss.handleUpgrade(req, socket, head, accept);
    },

    connections(): number {
      return open.size;
    },
  };
}

function tokenFromQuery(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url, "http://localhost").searchParams.get("token") ?? undefined;
  } catch {
    return undefined;
  }
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString("utf8");
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString("utf8");
  return data.toString("utf8");
}
