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
  /** The socket closed: replies in flight continue after the reconnect (the daemon keeps them for this tab). */
  lost(): void;
  /** The daemon did not know this tab any more (its grace passed): replies in flight are gone. */
  forgotten(): void;
  /** Asks the API (throws AuthError when the token is refused). */
  checkToken(): Promise<void>;
}

/** A frame from the daemon: a JSON object, its fields not checked yet. */
export type Frame = Partial<ServerMessage> & Record<string, unknown>;

let handlers: ConnectionHandlers | undefined;
/**
 * Which client this tab is (replies are addressed to it, and kept by the daemon while the tab
 * reconnects) and the last numbered reply it saw, so a reconnect gets exactly what it missed.
 */
const resume = { client: tabClientId(), epoch: "", after: 0, greeted: false };
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
  url.searchParams.set("client", resume.client);
  if (resume.epoch) {
    url.searchParams.set("epoch", resume.epoch);
    url.searchParams.set("after", String(resume.after));
  }
  return url;
}

/** One id per tab, kept across reloads of that tab (sessionStorage), new for a new tab. */
function tabClientId(): string {
  const fresh = () => `web-${crypto.randomUUID()}`;
  try {
    const kept = sessionStorage.getItem("pi-gateway.client");
    if (kept && /^[A-Za-z0-9_-]{16,100}$/.test(kept)) return kept;
    const id = fresh();
    sessionStorage.setItem("pi-gateway.client", id);
    return id;
  } catch {
    return fresh();
  }
}

/** Follows hello and numbered replies; tells the page when the daemon had forgotten this tab. */
function track(message: Frame): void {
  if (message.type === "hello") {
    const epoch = typeof message.epoch === "string" ? message.epoch : "";
    if (epoch !== resume.epoch) {
      resume.epoch = epoch;
      resume.after = 0;
    }
    if (resume.greeted && message.resumed !== true) handlers?.forgotten();
    resume.greeted = true;
  } else if (typeof message.seq === "number" && message.seq > resume.after) {
    resume.after = message.seq;
  }
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
    if (!message) return;
    track(message);
    handlers?.received(message);
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
