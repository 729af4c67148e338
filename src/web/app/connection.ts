/**
 * The WebSocket to the daemon (ws?token=...), its indicator in the top bar, and reconnecting with
 * jittered exponential backoff. A refused upgrade looks like any other close to a browser, so after
 * a close the page asks the API whether it was the token before it tries again.
 */
import type { ClientMessage, ServerMessage } from "../../daemon/ws-protocol.js";
import { AuthError, haveToken } from "./auth.js";
import { updateButtons } from "./buttons.js";
import { setText } from "./dom.js";
import { state, type ConnState } from "./state.js";
import { ui } from "./ui.js";

const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 15_000;

/** What the rest of the page does with the connection's news (set once by main). */
export interface ConnectionHandlers {
  /** The socket is open: send what waits. */
  opened(send: (message: ClientMessage) => void): void;
  /** A frame from the daemon (parsed JSON object, not yet checked further). */
  received(message: Frame): void;
  /** The socket closed: replies addressed to it will not come back on a new one. */
  lost(): void;
  /** Asks the API (throws AuthError when the token is refused). */
  checkToken(): Promise<void>;
}

/** A frame from the daemon: a JSON object, its fields not checked yet. */
export type Frame = Partial<ServerMessage> & Record<string, unknown>;

let handlers: ConnectionHandlers | undefined;
let socket: WebSocket | null = null;
let retries = 0;
let retryAt = 0;
let retryTimer: ReturnType<typeof setTimeout> | undefined;

export function setConnectionHandlers(value: ConnectionHandlers): void {
  handlers = value;
}

function setConn(conn: ConnState): void {
  state.conn = conn;
  ui.conn.dataset.state = conn;
  renderConnText();
  updateButtons();
}

const CONN_LABELS: Record<ConnState, { text: string; title: string }> = {
  connected: { text: "connected", title: "WebSocket connected" },
  connecting: { text: "connecting…", title: "Connecting to the daemon" },
  reconnecting: { text: "reconnecting…", title: "Disconnected from the daemon — click to retry now" },
  unauthorized: { text: "unauthorized", title: "The daemon refused the token" },
};

/** The indicator's text; while reconnecting, a countdown (refreshed by the ticker). */
export function renderConnText(): void {
  const label = CONN_LABELS[state.conn];
  const s = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
  setText(ui.connText, state.conn === "reconnecting" && s > 0 ? `offline · retry in ${s}s` : label.text);
  ui.conn.title = label.title;
}

function socketUrl(): URL {
  const url = new URL("ws", location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.search = "";
  url.hash = "";
  url.searchParams.set("token", state.token);
  return url;
}

/** Opens the WebSocket (again); a failure to open schedules the next try. */
export function connect(): void {
  clearTimeout(retryTimer);
  if (state.authorized === false || !haveToken()) return;
  setConn(retries ? "reconnecting" : "connecting");
  let ws: WebSocket;
  try {
    ws = new WebSocket(socketUrl());
  } catch {
    scheduleReconnect();
    return;
  }
  socket = ws;
  ws.addEventListener("open", () => {
    if (socket !== ws) return;
    retries = 0;
    setConn("connected");
    handlers?.opened((message) => ws.send(JSON.stringify(message)));
  });
  ws.addEventListener("message", (event) => {
    if (socket !== ws || typeof event.data !== "string") return;
    const message = parseFrame(event.data);
    if (message) handlers?.received(message);
  });
  ws.addEventListener("close", () => {
    if (socket !== ws) return;
    socket = null;
    void onDisconnected();
  });
}

function parseFrame(data: string): Frame | undefined {
  try {
    const message: unknown = JSON.parse(data);
    return message && typeof message === "object" ? (message as Frame) : undefined;
  } catch {
    return undefined;
  }
}

async function onDisconnected(): Promise<void> {
  handlers?.lost();
  if (state.authorized === false) return;
  setConn("reconnecting");
  try {
    await handlers?.checkToken();
  } catch (error) {
    if (error instanceof AuthError) return;
  }
  scheduleReconnect();
}

function scheduleReconnect(): void {
  if (state.authorized === false) return;
  const base = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** retries);
  const delay = Math.round(base * (0.8 + Math.random() * 0.4));
  retries += 1;
  retryAt = Date.now() + delay;
  clearTimeout(retryTimer);
  retryTimer = setTimeout(connect, delay);
  setConn("reconnecting");
}

/** Closes the socket for good (the token was refused) and shows it. */
export function disconnect(): void {
  clearTimeout(retryTimer);
  const ws = socket;
  socket = null;
  ws?.close();
  setConn("unauthorized");
}

/** Starts over (a new token): the next connect is a first one, not a retry. */
export function resetRetries(): void {
  retries = 0;
}

/** Sends a frame when the socket is open; false when it is not. */
export function send(message: ClientMessage): boolean {
  if (socket && socket.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify(message));
    return true;
  }
  return false;
}
