/**
 * The conversation so far (GET api/history, every origin, each with a badge) above the live
 * turns, newest page first; older pages on demand ("show earlier turns").
 */
import type { HistoryItem } from "../../daemon/types.js";
import { api } from "./auth.js";
import { h } from "./dom.js";
import { metaLine, originNode, replyText, toolLine } from "./turns.js";
import { ui } from "./ui.js";

const HISTORY_PAGE = 100;

/** Id of the oldest history item shown (the `before` of the next page). */
let oldest: string | null = null;

type Item = Partial<HistoryItem> & Record<string, unknown>;

/** A finished tool call, collapsed to one line: name, short arguments, ok or failed. */
function historyTool(item: Item): HTMLElement {
  const args = item.args ? String(item.args) : "";
  const status = String(item.status);
  const failed = status === "error";
  const label = String(item.name || "tool");
  return toolLine(
    label,
    failed ? "failed" : status === "ok" ? "done" : "no result",
    { class: failed ? "failed" : undefined, dataset: { tool: label, phase: "end", status }, title: args || undefined },
    h("span", { class: "tool-args", text: args }),
  );
}

/** History items as chat nodes: each prompt, then one agent bubble with its tool lines and replies. */
function historyNodes(items: Item[]): HTMLElement[] {
  const nodes: HTMLElement[] = [];
  let body: HTMLElement | null = null;
  for (const item of items) {
    const at = Number(item.at);
    if (item.kind === "prompt") {
      const origin = item.origin && typeof item.origin === "object" ? item.origin : null;
      nodes.push(originNode(origin, String(item.text ?? ""), at, String(origin?.requestId ?? ""), item.events));
      body = null;
      continue;
    }
    if (!body) {
      body = h("div", { class: "body" });
      nodes.push(h("div", { class: "msg assistant done history-reply" }, metaLine("pi", at), body));
    }
    if (item.kind === "tool") body.append(historyTool(item));
    else if (item.kind === "reply") {
      if (item.text) body.append(replyText(String(item.text)));
      if (item.error) body.append(h("div", { class: "reply-error", text: String(item.error) }));
    }
  }
  return nodes;
}

/** The newest page of the conversation, or (`earlier`) the page before the oldest item shown. */
export async function loadHistory(earlier = false): Promise<void> {
  const params = new URLSearchParams({ limit: String(HISTORY_PAGE) });
  const before = earlier ? oldest : null;
  if (before) params.set("before", before);
  const page = (await api(`api/history?${params}`)) as { items?: unknown; more?: unknown } | null;
  const items = (Array.isArray(page?.items) ? (page.items as unknown[]) : []).filter((item): item is Item => !!item && typeof item === "object");
  const heightBefore = ui.messages.scrollHeight;
  if (!before) ui.history.replaceChildren();
  ui.history.prepend(...historyNodes(items));
  if (items[0]) {
    oldest = String(items[0].id);
    ui.messagesEmpty.remove();
  }
  ui.historyMore.hidden = !page?.more;
  // Older turns go above what the reader is looking at: keep it in place; the first load starts at the end.
  if (before) ui.messages.scrollTop += ui.messages.scrollHeight - heightBefore;
  else ui.messages.scrollTop = ui.messages.scrollHeight;
}
