/**
 * The pieces of a turn both the history and the live stream show: what started it (with its
 * origin badge), tool lines, and reply text rendered as Markdown.
 */
import type { EventSummary, TurnOrigin } from "../../daemon/types.js";
import { h, type Child } from "./dom.js";
import { clock, fullTime } from "./format.js";
import { renderMarkdown } from "./markdown.js";

/** "event · redis · build.failed · ci": what started a turn, for its badge. */
export function originLabel(origin: Partial<TurnOrigin> | null | undefined): string {
  if (!origin || typeof origin !== "object") return "prompt";
  const parts = [String(origin.kind ?? "prompt"), String(origin.channel ?? "?")];
  if (Array.isArray(origin.types) && origin.types.length) parts.push(origin.types.map(String).join(", "));
  if (Array.isArray(origin.sources) && origin.sources.length) parts.push(origin.sources.map(String).join(", "));
  if (origin.from) parts.push(String(origin.from));
  return parts.join(" · ");
}

/**
 * A turn's opening: a human prompt as a chat bubble; an event, webhook, heartbeat or alarm collapsed
 * to its first line, or (a gateway message with `events`) to one badge per event with its payload
 * in a collapsed <details>, the whole text the agent read in one more.
 */
export function originNode(origin: Partial<TurnOrigin> | null | undefined, text: string, at: number, requestId: string, events?: unknown): HTMLElement {
  const kind = String(origin?.kind ?? "prompt").replace(/[^a-z]/g, "");
  const meta = h(
    "div",
    { class: "meta" },
    h("span", { class: `badge origin-${kind}`, dataset: { kind }, text: originLabel(origin) }),
    h("span", { class: "time", title: fullTime(at), text: clock(at) }),
  );
  if (kind === "prompt") return h("div", { class: "msg user", dataset: { requestId, origin: kind } }, meta, h("div", { class: "body", text }));
  const list = eventBadges(events);
  const first = list ? "what the agent read" : (text.split("\n").find((line) => line.trim()) ?? kind).replace(/^#+\s*/, "");
  return h(
    "div",
    { class: "msg trigger", dataset: { requestId, origin: kind } },
    meta,
    list,
    h("details", { class: "body prompt-text" }, h("summary", { text: first }), h("pre", { class: "trigger-text", text })),
  );
}

/** One line per event (type · source · time · origin session), its payload preview collapsed; null without events. */
export function eventBadges(events: unknown): HTMLElement | null {
  const list = Array.isArray(events) ? events.filter((e): e is Partial<EventSummary> => !!e && typeof e === "object") : [];
  if (!list.length) return null;
  return h("div", { class: "events" }, ...list.map(eventItem));
}

function eventItem(event: Partial<EventSummary>): HTMLElement {
  const ts = Number(event.ts);
  const parts = [String(event.type ?? "?"), String(event.source ?? "?"), ts > 0 ? clock(ts) : "time unknown"];
  if (event.originSession) parts.push(`from ${String(event.originSession)}`);
  const badge = h("span", { class: "badge event-badge", title: ts > 0 ? fullTime(ts) : undefined, text: parts.join(" · ") });
  const dataset = { eventId: String(event.id ?? ""), type: String(event.type ?? "") };
  if (event.preview === undefined || event.preview === null) {
    const note = event.payloadChars ? h("span", { class: "payload-note", text: ` payload of ${Number(event.payloadChars)} characters` }) : null;
    return h("div", { class: "event-item", dataset }, badge, note);
  }
  const cut = event.payloadChars ? `\n… (cut: ${Number(event.payloadChars)} characters in all)` : "";
  return h("details", { class: "event-item", dataset }, h("summary", {}, badge), h("pre", { class: "event-payload", text: `${String(event.preview)}${cut}` }));
}

/** The "meta" line of a bubble: who, when, and (for this page's own turns) a status. */
export function metaLine(who: string, at: number, status?: string): HTMLElement {
  return h(
    "div",
    { class: "meta" },
    h("span", { class: "who", text: who }),
    h("span", { class: "time", title: fullTime(at), text: clock(at) }),
    status === undefined ? null : h("span", { class: "status", text: status }),
  );
}

/** A tool line: ⚙, the tool's name, optional short arguments, and its state. */
export function toolLine(
  name: unknown,
  state: string,
  props: { class?: string; dataset?: Record<string, unknown>; title?: string } = {},
  args?: Child,
): HTMLElement {
  return h(
    "div",
    { class: `tool-line${props.class ? ` ${props.class}` : ""}`, dataset: props.dataset, title: props.title },
    h("span", { class: "tool-icon", text: "⚙" }),
    h("span", { class: "tool-name", text: String(name || "tool") }),
    args,
    h("span", { class: "tool-state", text: state }),
  );
}

/** A reply's text (Markdown) in a `.text` block. */
export function replyText(source: string): HTMLElement {
  const node = h("div", { class: "text markdown" });
  node.append(renderMarkdown(source));
  return node;
}
