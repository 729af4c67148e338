/**
 * Before the WebSocket upgrade: the token a client presents (Bearer header, or `?token=` for
 * browsers, which cannot set headers on a WebSocket) and the plain HTTP answer a refused upgrade gets.
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { bearerToken } from "../http/auth.js";

export function upgradeToken(req: IncomingMessage): string | undefined {
  return bearerToken(req.headers.authorization) ?? tokenFromQuery(req.url);
}

function tokenFromQuery(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url, "http://localhost").searchParams.get("token") ?? undefined;
  } catch {
    return undefined;
  }
}

/** Answers the upgrade request with a JSON error and closes the socket. */
export function refuseUpgrade(socket: Duplex, status: 401 | 503, reason: string, message: string): void {
  const body = JSON.stringify({ error: message, code: status === 401 ? "UNAUTHORIZED" : "UNAVAILABLE" });
  const response =
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\n` + `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  socket.once("error", () => undefined);
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.once("finish", () => socket.destroy());
  socket.end(response);
  // Never leave a half-closed socket behind if the peer does not read.
  setTimeout(() => socket.destroy(), 1_000).unref();
}
