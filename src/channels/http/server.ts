/**
 * Serves the Hono app on a Node HTTP server and routes WebSocket upgrades on `/ws` to the
 * WebSocket channel. Loopback by default; binding anything else without a token is refused,
 * because then every endpoint would be either disabled or open to the network.
 */
import type { IncomingMessage, Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { createAdaptorServer } from "@hono/node-server";
import type { Hono } from "hono";
import { GatewayError } from "../../bus/errors.js";

export interface UpgradeHandler {
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

export interface HttpServerOptions {
  app: Hono;
  /** Receives upgrades on WEBSOCKET_PATH; other upgrade paths get 404. */
  websocket?: UpgradeHandler;
  /** Default 127.0.0.1 (loopback only). */
  host?: string;
  /** Default 8787; 0 picks a free port. */
  port?: number;
  /** The gateway token; required to bind a non-loopback host. */
  token?: string;
}

export interface RunningHttpServer {
  /** http://host:port */
  url: string;
  port: number;
  close(): Promise<void>;
}

export const DEFAULT_HTTP_HOST = "127.0.0.1";
export const DEFAULT_HTTP_PORT = 8787;
export const WEBSOCKET_PATH = "/ws";

export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, "");
  if (h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
  const v4 = h.startsWith("::ffff:") ? h.slice(7) : h;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const host = options.host ?? DEFAULT_HTTP_HOST;
  if (!isLoopbackHost(host) && !options.token) {
    throw new GatewayError(`refusing to listen on ${host} without a token: set GATEWAY_TOKEN (or bind 127.0.0.1)`, "INSECURE_BIND");
  }
  const server = createAdaptorServer({ fetch: options.app.fetch }) as Server;

  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => undefined);
    let path = "";
    try {
      path = new URL(req.url ?? "/", "http://localhost").pathname;
    } catch {
      // bad request line: falls through to 404
    }
    if (path === WEBSOCKET_PATH && options.websocket) {
      try {
        options.websocket.handleUpgrade(req, socket, head);
      } catch {
        socket.destroy();
      }
      return;
    }
    const body = JSON.stringify({ error: `no WebSocket endpoint at ${path || "?"}`, code: "NOT_FOUND" });
    socket.end(`HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off("listening", onListening);
      const reason = error.code === "EADDRINUSE" ? "the port is in use" : error.code === "EACCES" ? "permission denied" : error.message;
      reject(new GatewayError(`cannot listen on ${host}:${options.port ?? DEFAULT_HTTP_PORT}: ${reason}`, "LISTEN_FAILED"));
    };
    const onListening = () => {
      server.off("error", onError);
      resolve();
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(options.port ?? DEFAULT_HTTP_PORT, host);
  });

  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  let closed: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Idle keep-alive connections would hold close() open.
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 2_000).unref();
      });
      return closed;
    },
  };
}
