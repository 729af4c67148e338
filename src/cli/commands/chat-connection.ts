/**
 * `pi-gateway chat`'s connection to the daemon: one client id for the whole run, and when the
 * socket drops (a daemon restart, a network blip) it reconnects with backoff and resumes: the
 * daemon sends the replies it missed, in order, once (src/channels/websocket/clients.ts).
 */
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { WebSocket } from "ws";
import { GatewayError } from "../../bus/errors.js";
import type { ClientMessage, ServerMessage } from "../../daemon/ws-protocol.js";

export type Hello = Extract<ServerMessage, { type: "hello" }>;

const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 5_000;

export interface ChatConnectionEvents {
  message: [ServerMessage];
  /** The socket dropped; reconnecting (attempt n). */
  reconnecting: [number];
  /** Connected again; `hello.missed` replies follow. */
  resumed: [Hello];
  /** Gave up (or closed by us): no more messages. */
  closed: [GatewayError | undefined];
}

export class ChatConnection extends EventEmitter<ChatConnectionEvents> {
  /** The id the daemon addresses this run's replies to. */
  readonly client = `chat-${randomUUID()}`;
  private socket: WebSocket | undefined;
  private epoch = "";
  private after = 0;
  private closing = false;

  constructor(
    private readonly url: URL,
    private readonly token: string,
    /** How long to keep trying after a drop before giving up. */
    private readonly reconnectForMs = 60_000,
  ) {
    super();
  }

  /** The first connection: rejects with one clear line when the daemon refuses or is not there. */
  async open(): Promise<Hello> {
    return this.connectOnce();
  }

  send(message: ClientMessage): boolean {
    if (this.socket?.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  close(): void {
    this.closing = true;
    this.socket?.close();
    this.emit("closed", undefined);
  }

  private connectOnce(): Promise<Hello> {
    const url = new URL(this.url);
    url.searchParams.set("client", this.client);
    if (this.epoch) {
      url.searchParams.set("epoch", this.epoch);
      url.searchParams.set("after", String(this.after));
    }
    return new Promise((resolve, reject) => {
      const where = this.url.origin + this.url.pathname;
      const socket = new WebSocket(url, { headers: { Authorization: `Bearer ${this.token}` }, handshakeTimeout: 10_000 });
      const fail = (message: string, code: string) => {
        socket.removeAllListeners();
        socket.on("error", () => undefined);
        socket.terminate();
        reject(new GatewayError(message, code));
      };
      socket.once("unexpected-response", (_req, res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        if (status === 401) fail(`the gateway at ${where} refused the token (401): check --token / $GATEWAY_TOKEN`, "UNAUTHORIZED");
        else if (status === 404) fail(`no WebSocket endpoint at ${where} (404): check --url`, "NOT_FOUND");
        else fail(`the gateway at ${where} answered ${status} ${res.statusMessage ?? ""}`.trim(), "CONNECT_FAILED");
      });
      socket.once("error", (error: NodeJS.ErrnoException) => {
        if (error.code === "ECONNREFUSED") fail(`cannot connect to ${where}: connection refused (is the daemon running?)`, "CONNECT_FAILED");
        else fail(`cannot connect to ${where}: ${error.message}`, "CONNECT_FAILED");
      });
      socket.once("close", () => fail(`the gateway at ${where} closed the connection before saying hello`, "CONNECT_FAILED"));
      socket.once("message", (data) => {
        const message = parseServerMessage(data.toString());
        if (message?.type !== "hello") return fail(`unexpected first message from ${where}: ${data.toString().slice(0, 200)}`, "PROTOCOL");
        socket.removeAllListeners();
        this.adopt(socket, message);
        resolve(message);
      });
    });
  }

  /** A connected socket: numbered replies move `after`; a close starts the reconnect loop. */
  private adopt(socket: WebSocket, hello: Hello): void {
    if (hello.epoch !== this.epoch) {
      this.epoch = hello.epoch;
      this.after = 0;
    }
    this.socket = socket;
    socket.on("message", (data) => {
      const message = parseServerMessage(data.toString());
      if (!message) return;
      if ("seq" in message && typeof message.seq === "number") this.after = Math.max(this.after, message.seq);
      this.emit("message", message);
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      if (this.socket === socket) this.socket = undefined;
      if (!this.closing) void this.reconnect();
    });
  }

  private async reconnect(): Promise<void> {
    const until = Date.now() + this.reconnectForMs;
    let lastError: GatewayError | undefined;
    for (let attempt = 1; !this.closing && Date.now() < until; attempt++) {
      this.emit("reconnecting", attempt);
      await new Promise((resolve) => setTimeout(resolve, Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** (attempt - 1))));
      if (this.closing) return;
      try {
        const hello = await this.connectOnce();
        this.emit("resumed", hello);
        return;
      } catch (error) {
        lastError = error as GatewayError;
        if (lastError.code === "UNAUTHORIZED" || lastError.code === "NOT_FOUND") break;
      }
    }
    if (this.closing) return;
    const why = lastError ? `: ${lastError.message}` : "";
    this.emit(
      "closed",
      new GatewayError(`the gateway closed the connection and did not come back within ${this.reconnectForMs / 1000}s${why}`, "DISCONNECTED"),
    );
  }
}

export function parseServerMessage(text: string): ServerMessage | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === "object" && value !== null && typeof (value as { type?: unknown }).type === "string" ? (value as ServerMessage) : undefined;
  } catch {
    return undefined;
  }
}
