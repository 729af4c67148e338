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
import { createRequestGuard, isLoopbackHost, type RequestGuard } from "./request-guard.js";

export { isLoopbackHost };

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
  /** Host names answered besides loopback ones (GATEWAY_ALLOWED_HOSTS). */
  allowedHosts?: string[];
  /** Browser origins that may open the WebSocket besides the daemon's own (GATEWAY_ALLOWED_ORIGINS). */
  allowedOrigins?: string[];
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

export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const host = options.host ?? DEFAULT_HTTP_HOST;
  if (!isLoopbackHost(host) && !options.token) {
    throw new GatewayError(`refusing to listen on ${host} without a token: set GATEWAY_TOKEN (or bind 127.0.0.1)`, "INSECURE_BIND");
  }
  const guard = createRequestGuard({ bindHost: host, allowedHosts: options.allowedHosts, allowedOrigins: options.allowedOrigins });
  const app = options.app;
  const server = createAdaptorServer({
    fetch: (request: Request, env: unknown) => {
      const refused = guard.refuseHost(request.headers.get("host") ?? undefined);
      return refused ? Response.json({ error: refused, code: "FORBIDDEN_HOST" }, { status: 403 }) : app.fetch(request, env);
    },
  }) as Server;

  server.on("upgrade", upgradeRouter(guard, options.websocket));

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

/** Upgrades on WEBSOCKET_PATH go to the WebSocket channel once Host and Origin pass; any other path gets 404. */
function upgradeRouter(guard: RequestGuard, websocket: UpgradeHandler | undefined) {
  return (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on("error", () => undefined);
    let path = "";
    try {
      path = new URL(req.url ?? "/", "http://localhost").pathname;
    } catch {
      // bad request line: falls through to 404
    }
    if (path !== WEBSOCKET_PATH || !websocket) return endRaw(socket, 404, "Not Found", { error: `no WebSocket endpoint at ${path || "?"}`, code: "NOT_FOUND" });
    const badHost = guard.refuseHost(req.headers.host);
    if (badHost) return endRaw(socket, 403, "Forbidden", { error: badHost, code: "FORBIDDEN_HOST" });
    const badOrigin = guard.refuseOrigin(req.headers.origin, req.headers.host);
    if (badOrigin) return endRaw(socket, 403, "Forbidden", { error: badOrigin, code: "FORBIDDEN_ORIGIN" });
    try {
      websocket.handleUpgrade(req, socket, head);
    } catch {
      socket.destroy();
    }
  };
}

/** A plain HTTP answer on a socket that asked for an upgrade, then closed. */
function endRaw(socket: Duplex, status: number, reason: string, payload: object): void {
  const body = JSON.stringify(payload);
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
