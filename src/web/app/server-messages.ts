/**
 * The daemon's WebSocket frames (src/daemon/ws-protocol.ts) into the page: acknowledgements of
 * this page's prompts, the turns of every origin as they stream, status, protocol errors.
 * Frames are untrusted JSON: every field is checked or converted before use.
 */
import type { DaemonStatus, TurnOrigin } from "../../daemon/types.js";
import { addSystemLine, appendMessage, finishReply, onDelta, onEnd, onTool, replyFor, setMeta } from "./chat.js";
import type { Frame } from "./connection.js";
import { setText } from "./dom.js";
import { pendingReply, state } from "./state.js";
import { renderDaemon } from "./status.js";
import { originNode } from "./turns.js";
import { ui } from "./ui.js";

function onQueued(message: Frame, requestId: string): void {
  const id = String(message.id);
  const pending = state.outbox.get(id);
  state.outbox.delete(id);
  if (pending) {
    pending.node.dataset.requestId = requestId;
    setMeta(pending.node, message.duplicate ? "already queued" : "queued");
  }
  if (requestId && !state.replies.has(requestId)) {
    state.replies.set(requestId, pendingReply(requestId, pending?.node));
  }
}

function onStart(message: Frame, requestId: string): void {
  // A turn this page did not ask for (an event, Telegram, another client): show what started it.
  const origin = message.origin && typeof message.origin === "object" ? (message.origin as Partial<TurnOrigin>) : null;
  if (!state.replies.get(requestId)?.user && origin) appendMessage(originNode(origin, String(message.prompt ?? ""), Date.now(), requestId, message.events));
  const reply = replyFor(requestId);
  const user = reply.user ?? document.querySelector<HTMLElement>(`.msg.user[data-request-id="${CSS.escape(requestId)}"]`);
  if (user) setMeta(user, "answering");
}

function onError(message: Frame, requestId: string): void {
  const text = String(message.message ?? (requestId ? "the agent failed" : "error"));
  if (!requestId) return addSystemLine(text, "error");
  const reply = replyFor(requestId);
  finishReply(reply, "error", text);
  if (reply.user) setMeta(reply.user, "failed");
}

export function handleServerMessage(message: Frame): void {
  const requestId = typeof message.requestId === "string" ? message.requestId : "";
  switch (message.type) {
    case "hello":
      setText(ui.version, message.version ? `v${String(message.version)}` : "");
      if (message.connection) ui.version.title = `connection ${String(message.connection)}`;
      break;
    case "queued":
      onQueued(message, requestId);
      break;
    case "gap":
      addSystemLine(`${Number(message.lost) || 0} replies were lost while disconnected (the daemon keeps the newest 1,000 per client)`, "error");
      break;
    case "start":
      if (requestId) onStart(message, requestId);
      break;
    case "delta":
      if (requestId && typeof message.text === "string") onDelta(replyFor(requestId), message.text);
      break;
    case "tool":
      if (requestId) onTool(replyFor(requestId), message.name, message.phase, message.isError === true);
      break;
    case "end":
      if (requestId) {
        const reply = replyFor(requestId);
        onEnd(reply, message.text);
        if (reply.user) setMeta(reply.user, "answered");
      }
      break;
    case "error":
      onError(message, requestId);
      break;
    case "status":
      if (message.status && typeof message.status === "object") renderDaemon(message.status as DaemonStatus);
      break;
    case "invalid":
      addSystemLine(`The daemon rejected a message: ${String(message.message ?? "")}`, "error");
      break;
    case "notify":
      // `pi-gateway notify` (or, later, the agent's gateway_notify): shown as text, never as HTML.
      addSystemLine(`🔔 ${String(message.from ?? "?")}: ${String(message.text ?? "")}${message.file ? ` (file: ${String(message.file)})` : ""}`);
      break;
    default:
      break;
  }
}
