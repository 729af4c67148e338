/** A WebSocket client of the daemon that only listens (it never sends a prompt) and keeps every frame. */
import { WebSocket } from "ws";
import type { ServerMessage } from "../../src/daemon/ws-protocol.js";

export async function wsListener(url: string, token: string): Promise<{ messages: ServerMessage[]; close(): void }> {
  const socket = new WebSocket(`${url.replace(/^http/, "ws")}/ws`, { headers: { authorization: `Bearer ${token}` } });
  const messages: ServerMessage[] = [];
  socket.on("message", (data) => messages.push(JSON.parse(data.toString()) as ServerMessage));
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  return { messages, close: () => socket.close() };
}
