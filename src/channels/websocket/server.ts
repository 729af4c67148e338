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
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocket, WebSocketServer, type RawData } from "ws";
import { packageVersion } from "../../util/version.js";
import type { Channel, ChannelContext, ReplyEvent } from "../../daemon/types.js";
import { silentLogger, type Logger } from "../../util/logger.js";
import { tokenMatches } from "../http/auth.js";
import { handleClientMessage, parseFrame, WEBSOCKET_CHANNEL } from "./client-messages.js";
import { ClientRegistry, DEFAULT_RESUME_GRACE_MS, type ResumeRequest } from "./clients.js";
import { closeConnection, createSend, newConnection, pingOrDrop, sendOrHold, type Connection, type Send } from "./connection.js";
import { refuseUpgrade, upgradeToken } from "./upgrade.js";

export interface WebSocketChannelOptions {
  /** Clients must present this token; empty refuses every connection. */
  token: string;
  /** Largest client frame accepted (default 1 MiB); bigger ones close the connection (1009). */
  maxPayloadBytes?: number;
  /** Ping interval (default 30 s); a client missing one full interval is dropped. */
  heartbeatMs?: number;
  /** A client whose unsent backlog grows past this (default 16 MiB) is too slow and is dropped. */
  maxBufferedBytes?: number;
  /** How long a disconnected client's replies are kept for its reconnect (default 10 min). */
  resumeGraceMs?: number;
  logger?: Logger;
}

export interface WebSocketChannel extends Channel {
  /** Call from the HTTP server's `upgrade` event for the WebSocket path. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Open connections right now. */
  connections(): number;
}

/** The channel's state, shared by the pieces below (one per createWebSocketChannel call). */
interface Hub {
  options: WebSocketChannelOptions;
  logger: Logger;
  send: Send;
  version: string;
  wss: WebSocketServer;
  open: Map<string, Connection>;
  /** Clients by id, with the replies they have not seen yet (clients.ts). */
  clients: ClientRegistry;
  /** Set by start(): the daemon the clients talk to. */
  daemon?: ChannelContext;
  heartbeat?: NodeJS.Timeout;
  stopping: boolean;
}

export function createWebSocketChannel(options: WebSocketChannelOptions): WebSocketChannel {
  const logger = options.logger ?? silentLogger;
  const hub: Hub = {
    options,
    logger,
    send: createSend(options.maxBufferedBytes ?? 16 * 1024 * 1024, logger),
    version: packageVersion(),
    wss: new WebSocketServer({ noServer: true, maxPayload: options.maxPayloadBytes ?? 1024 * 1024, clientTracking: false }),
    open: new Map(),
    clients: new ClientRegistry(options.resumeGraceMs ?? DEFAULT_RESUME_GRACE_MS, logger),
    stopping: false,
  };
  return {
    name: WEBSOCKET_CHANNEL,
    start: async (daemon) => start(hub, daemon),
    stop: () => stop(hub),
    deliver: async (to, event) => deliver(hub, to, event),
    /** Every turn to every client but the asker (it gets the same events through deliver, held behind "queued"). */
    broadcast: async (event, exclude) => {
      for (const connection of hub.open.values()) {
        if (connection.client !== exclude) hub.send(connection, event);
      }
    },
    /** A notification for the owner, to every client. */
    notify: async (notice) => {
      for (const connection of hub.open.values()) hub.send(connection, { type: "notify", ...notice });
    },
    handleUpgrade: (req, socket, head) => upgrade(hub, req, socket, head),
    connections: () => hub.open.size,
  };
}

function start(hub: Hub, daemon: ChannelContext): void {
  hub.daemon = daemon;
  hub.stopping = false;
  hub.heartbeat = setInterval(() => {
    pingOrDrop(hub.open.values(), hub.logger);
    hub.clients.sweep();
  }, hub.options.heartbeatMs ?? 30_000);
  hub.heartbeat.unref();
}

async function stop(hub: Hub): Promise<void> {
  hub.stopping = true;
  if (hub.heartbeat) clearInterval(hub.heartbeat);
  hub.heartbeat = undefined;
  await Promise.all([...hub.open.values()].map(closeConnection));
  hub.open.clear();
  await new Promise<void>((resolve) => hub.wss.close(() => resolve()));
}

/** Keeps the reply in the client's outbox and sends it now when the client is connected. */
function deliver(hub: Hub, to: string, event: ReplyEvent): void {
  const kept = hub.clients.deliver(to, event);
  if (!kept) {
    hub.logger.warn({ client: to, type: event.type }, "websocket reply for a malformed client id dropped");
    return;
  }
  const { connection, message } = kept;
  if (connection && connection.socket.readyState === WebSocket.OPEN) sendOrHold(connection, message, hub.send);
}

/** Authenticates before upgrading (constant-time compare; an empty configured token refuses all). */
function upgrade(hub: Hub, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  if (hub.stopping || !hub.daemon) return refuseUpgrade(socket, 503, "Service Unavailable", "the gateway is not accepting connections");
  const given = upgradeToken(req);
  if (!tokenMatches(given, hub.options.token)) {
    hub.logger.warn({ remote: req.socket.remoteAddress, given: Boolean(given) }, "websocket upgrade refused: bad token");
    return refuseUpgrade(socket, 401, "Unauthorized", given ? "wrong token" : "missing token");
  }
  hub.wss.handleUpgrade(req, socket, head, (ws) => accept(hub, ws, resumeRequest(req.url)));
}

/** `?client=<id>&epoch=<e>&after=<seq>` of the upgrade URL; anything malformed is left out. */
function resumeRequest(url: string | undefined): ResumeRequest {
  let params: URLSearchParams;
  try {
    params = new URL(url ?? "/", "http://localhost").searchParams;
  } catch {
    return {};
  }
  const after = params.get("after");
  return {
    client: params.get("client") ?? undefined,
    epoch: params.get("epoch") ?? undefined,
    after: after !== null && /^\d{1,15}$/.test(after) ? Number(after) : undefined,
  };
}

function accept(hub: Hub, socket: WebSocket, resume: ResumeRequest): void {
  const { logger } = hub;
  const connection = newConnection(socket);
  const attached = hub.clients.attach(connection, resume);
  connection.client = attached.client;
  hub.open.set(connection.id, connection);
  logger.info({ connection: connection.id, client: attached.client, resumed: attached.resumed, missed: attached.missed.length }, "websocket client connected");
  socket.on("pong", () => {
    connection.alive = true;
  });
  socket.on("message", (data, isBinary) => {
    connection.alive = true;
    onFrame(hub, connection, data, isBinary).catch((error: unknown) => {
      logger.error({ connection: connection.id, err: error }, "websocket request failed");
      hub.send(connection, { type: "error", requestId: "", message: (error as Error).message });
    });
  });
  socket.on("error", (error) => logger.debug({ connection: connection.id, err: error }, "websocket error"));
  socket.on("close", () => {
    hub.open.delete(connection.id);
    hub.clients.detach(connection);
    logger.info({ connection: connection.id, client: connection.client }, "websocket client disconnected");
  });
  const { client, resumed, missed, lost } = attached;
  hub.send(connection, { type: "hello", connection: connection.id, client, epoch: hub.clients.epoch, resumed, missed: missed.length, version: hub.version });
  if (lost) hub.send(connection, { type: "gap", lost });
  for (const message of missed) hub.send(connection, message);
}

async function onFrame(hub: Hub, connection: Connection, data: RawData, isBinary: boolean): Promise<void> {
  const frame = parseFrame(data, isBinary);
  if ("invalid" in frame) return hub.send(connection, { type: "invalid", message: frame.invalid });
  const daemon = hub.daemon;
  if (!daemon) return hub.send(connection, { type: "invalid", message: "the gateway is not ready yet" });
  await handleClientMessage(frame.message, { connection, daemon, send: hub.send, logger: hub.logger });
}
