/**
 * Replies are addressed to a client, not to a socket: a client id outlives its connections, so a
 * client that reconnects (a dropped Wi-Fi, a laptop lid, a daemon restart) gets the replies it
 * missed, in order, once.
 *
 * - The client chooses its id (`?client=<id>` on the upgrade, kept by `pi-gateway chat` for its run
 *   and by the web page per tab) or is given one in `hello`. Anyone holding the gateway token may
 *   already do everything a client can, so the id is an address, not a credential.
 * - Every reply addressed to the client is numbered (`seq`, per daemon process: `epoch` in hello
 *   tells processes apart) and kept in its outbox. On reconnect the client says the last seq it saw
 *   (`?client=<id>&epoch=<e>&after=<seq>`); everything after it is sent again, then live replies go
 *   on. From another epoch (the daemon restarted) everything kept is sent.
 * - Bounded: an outbox keeps the newest OUTBOX_MAX replies (a client that lost more is told how
 *   many with a `gap` message), a client gone longer than the grace is forgotten (its replies are
 *   logged as dropped), and at most CLIENTS_MAX clients are kept.
 */
import { randomBytes } from "node:crypto";
import type { ReplyEvent } from "../../daemon/types.js";
import type { Logger } from "../../util/logger.js";
import type { Connection } from "./connection.js";

export const OUTBOX_MAX = 1_000;
export const CLIENTS_MAX = 10_000;
export const DEFAULT_RESUME_GRACE_MS = 10 * 60_000;
const CLIENT_ID = /^[A-Za-z0-9_-]{16,100}$/;

export type Numbered = ReplyEvent & { seq: number };

interface Client {
  id: string;
  outbox: Numbered[];
  nextSeq: number;
  connection?: Connection;
  /** When the last connection closed (undefined while connected). */
  goneSince?: number;
}

/** What the upgrade request asks for: which client, and the last reply it saw. */
export interface ResumeRequest {
  client?: string;
  epoch?: string;
  after?: number;
}

export interface Attached {
  client: string;
  /** Replies sent again (missed while away), in order. */
  missed: Numbered[];
  /** Replies that were missed but no longer kept (the outbox was full). */
  lost: number;
  resumed: boolean;
}

export class ClientRegistry {
  /** Tells this daemon process's seq numbers apart from a predecessor's. */
  readonly epoch = randomBytes(6).toString("base64url");
  private readonly clients = new Map<string, Client>();

  constructor(
    private readonly graceMs: number,
    private readonly logger: Logger,
  ) {}

  /** Binds a new connection to its client (created when unknown) and returns what it missed. */
  attach(connection: Connection, request: ResumeRequest): Attached {
    this.sweep();
    const id = request.client && CLIENT_ID.test(request.client) ? request.client : `k-${randomBytes(16).toString("base64url")}`;
    let client = this.clients.get(id);
    const resumed = client !== undefined;
    if (!client) client = this.create(id);
    const previous = client.connection;
    client.connection = connection;
    client.goneSince = undefined;
    if (previous && previous !== connection) previous.socket.close(4000, "the same client connected again");
    const after = request.epoch === this.epoch && request.after !== undefined ? request.after : 0;
    const missed = client.outbox.filter((m) => m.seq > after);
    const oldestKept = client.outbox[0]?.seq ?? client.nextSeq;
    const lost = Math.max(0, oldestKept - after - 1);
    // Acknowledged by the resume: what the client has seen need not be kept.
    client.outbox = missed;
    return { client: id, missed, lost: request.epoch === this.epoch ? lost : 0, resumed };
  }

  /** The connection closed: its client waits for a reconnect within the grace. */
  detach(connection: Connection): void {
    const client = this.clients.get(connection.client);
    if (client?.connection !== connection) return;
    client.connection = undefined;
    client.goneSince = Date.now();
  }

  /**
   * Numbers and keeps a reply for a client; returns the connection to send it on now, if any. A
   * reply for a client never seen by this process is kept too (its command was replayed after a
   * restart; the client will reconnect with the id it had).
   */
  deliver(clientId: string, event: ReplyEvent): { message: Numbered; connection?: Connection } | undefined {
    if (!CLIENT_ID.test(clientId)) return undefined;
    const client = this.clients.get(clientId) ?? this.create(clientId, Date.now());
    const message: Numbered = { ...event, seq: client.nextSeq++ };
    client.outbox.push(message);
    if (client.outbox.length > OUTBOX_MAX) client.outbox.splice(0, client.outbox.length - OUTBOX_MAX);
    return { message, connection: client.connection };
  }

  /** Clients kept right now (connected or within their grace). */
  get size(): number {
    return this.clients.size;
  }

  private create(id: string, goneSince?: number): Client {
    if (this.clients.size >= CLIENTS_MAX) this.evictOldestGone();
    const client: Client = { id, outbox: [], nextSeq: 1, goneSince };
    this.clients.set(id, client);
    return client;
  }

  /** Forgets clients gone longer than the grace, saying how many replies they never got. */
  sweep(now = Date.now()): void {
    for (const client of this.clients.values()) {
      if (client.goneSince === undefined || now - client.goneSince < this.graceMs) continue;
      this.clients.delete(client.id);
      if (client.outbox.length) {
        this.logger.warn({ client: client.id, replies: client.outbox.length }, "websocket client did not come back within its grace; its replies are dropped");
      }
    }
  }

  private evictOldestGone(): void {
    let oldest: Client | undefined;
    for (const client of this.clients.values()) {
      if (client.goneSince !== undefined && (!oldest || client.goneSince < oldest.goneSince!)) oldest = client;
    }
    if (!oldest) return;
    this.clients.delete(oldest.id);
    this.logger.warn({ client: oldest.id, replies: oldest.outbox.length }, "too many websocket clients kept; forgot the one gone longest");
  }
}
