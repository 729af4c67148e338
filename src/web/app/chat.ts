/**
 * The chat column: this page's prompts, and every reply streamed delta by delta with its tool
 * lines in place. Scrolling follows new text only when the reader is at the bottom already.
 */
import { updateButtons } from "./buttons.js";
import { h, setText } from "./dom.js";
import { formatDuration } from "./format.js";
import { isLive, pendingReply, state, type LiveReply, type ReplyView } from "./state.js";
import { TextSegment } from "./text-segment.js";
import { metaLine, toolLine } from "./turns.js";
import { ui } from "./ui.js";

function nearBottom(): boolean {
  const m = ui.messages;
  return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
}

/** Runs `change`, then keeps the view at the bottom if it was there before. */
function keepingScroll(change: () => void): void {
  const stick = nearBottom();
  change();
  if (stick) ui.messages.scrollTop = ui.messages.scrollHeight;
}

export function appendMessage(node: HTMLElement): void {
  keepingScroll(() => {
    ui.messagesEmpty.remove();
    ui.messages.append(node);
  });
}

export function setMeta(node: HTMLElement, status: string): void {
  const label = node.querySelector(".status");
  if (label) setText(label, status);
  node.dataset.status = status;
}

export function addUserMessage(text: string, id: string): HTMLElement {
  const node = h("div", { class: "msg user", dataset: { id, status: "sending" } }, metaLine("you", Date.now(), "sending"), h("div", { class: "body", text }));
  appendMessage(node);
  return node;
}

export function addSystemLine(text: string, kind: "system" | "error" = "system"): void {
  appendMessage(h("div", { class: `msg ${kind}`, role: kind === "error" ? "alert" : undefined }, h("span", { text })));
}

/** The reply for a request, its bubble made on first use. */
export function replyFor(requestId: string): LiveReply {
  const known = state.replies.get(requestId);
  if (isLive(known)) return known;
  const body = h("div", { class: "body" });
  const node = h("div", { class: "msg assistant streaming", dataset: { requestId } }, metaLine("pi", Date.now(), "thinking"), body);
  const reply = { ...pendingReply(requestId, known?.user), node, body };
  state.replies.set(requestId, reply);
  appendMessage(node);
  updateButtons();
  return reply;
}

/** The text block deltas go into: a fresh one after each tool line, so tool lines stay in place. */
function currentSegment(reply: LiveReply): TextSegment {
  if (!reply.segment) {
    reply.segment = new TextSegment(keepingScroll);
    reply.body.append(reply.segment.node);
  }
  return reply.segment;
}

function appendText(reply: LiveReply, text: string): void {
  currentSegment(reply).append(text);
  reply.text += text;
}

/** The block deltas went into is complete (a tool started, the reply ended): shown whole now. */
function closeSegment(reply: LiveReply): void {
  reply.segment?.flush();
  reply.segment = null;
}

export function onDelta(reply: LiveReply, text: string): void {
  appendText(reply, text);
  setMeta(reply.node, "streaming");
}

/** The newest tool line of this name still running, or a new one (an end without a start). */
function openTool(reply: LiveReply, name: string): ReplyView["tools"][number] {
  const open = reply.tools.findLast((tool) => tool.name === name && tool.line.dataset.phase === "start");
  if (open) return open;
  const tool = { name, line: toolLine(name, ""), startedAt: Date.now() };
  reply.body.append(tool.line);
  reply.tools.push(tool);
  return tool;
}

export function onTool(reply: LiveReply, name: unknown, phase: unknown, isError: boolean): void {
  const label = String(name || "tool");
  keepingScroll(() => {
    closeSegment(reply);
    if (phase === "start") {
      const line = toolLine(label, "running…", { dataset: { tool: label, phase: "start" } });
      reply.body.append(line);
      reply.tools.push({ name: label, line, startedAt: Date.now() });
    } else {
      const tool = openTool(reply, label);
      tool.line.dataset.phase = "end";
      if (isError) tool.line.classList.add("failed");
      const state = tool.line.querySelector(".tool-state");
      if (state) setText(state, `${isError ? "failed" : "done"} · ${formatDuration(Date.now() - tool.startedAt)}`);
    }
  });
  setMeta(reply.node, "working");
}

export function finishReply(reply: LiveReply, status: "done" | "error" | "interrupted", note?: string): void {
  closeSegment(reply);
  reply.done = true;
  reply.node.classList.remove("streaming");
  reply.node.classList.add(status);
  setMeta(reply.node, `${status} · ${formatDuration(Date.now() - reply.startedAt)}`);
  if (note) reply.body.append(h("div", { class: status === "error" ? "reply-error" : "reply-note", text: note }));
  updateButtons();
}

export function onEnd(reply: LiveReply, text: unknown): void {
  keepingScroll(() => {
    if (typeof text === "string" && text !== reply.text) {
      // The final text is authoritative (a delta may have been missed): replace the streamed text,
      // keeping the tool lines where they are.
      closeSegment(reply);
      for (const segment of reply.body.querySelectorAll(".text")) segment.remove();
      reply.text = "";
      appendText(reply, text);
    }
    if (!reply.text) reply.body.append(h("div", { class: "reply-note", text: "(no text in this reply)" }));
    finishReply(reply, "done");
  });
}

/** The connection closed: replies in flight say they continue after the reconnect. */
export function pauseReplies(): void {
  for (const reply of state.replies.values()) {
    if (reply.done) continue;
    if (reply.user) setMeta(reply.user, "connection lost — the reply follows when it is back");
  }
}

/** The daemon had forgotten this tab (gone longer than its grace, or it restarted): replies in flight will not come. */
export function interruptReplies(): void {
  for (const reply of state.replies.values()) {
    if (reply.done) continue;
    if (isLive(reply)) finishReply(reply, "interrupted", "connection lost — the rest of this reply was not received");
    else if (reply.user) {
      reply.done = true;
      setMeta(reply.user, "connection lost before the reply");
    }
  }
}
