/**
 * The pieces of a turn both the history and the live stream show: what started it (with its
 * origin badge), tool lines, and reply text rendered as Markdown.
 */
import type { TurnOrigin } from "../../daemon/types.js";
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

/** A turn's opening: a human prompt as a chat bubble; an event, webhook, heartbeat or alarm collapsed to its first line. */
export function originNode(origin: Partial<TurnOrigin> | null | undefined, text: string, at: number, requestId: string): HTMLElement {
  const kind = String(origin?.kind ?? "prompt").replace(/[^a-z]/g, "");
  const meta = h(
    "div",
    { class: "meta" },
    h("span", { class: `badge origin-${kind}`, dataset: { kind }, text: originLabel(origin) }),
    h("span", { class: "time", title: fullTime(at), text: clock(at) }),
  );
  if (kind === "prompt") return h("div", { class: "msg user", dataset: { requestId, origin: kind } }, meta, h("div", { class: "body", text }));
  const first = text.split("\n").find((line) => line.trim()) ?? kind;
  return h(
    "div",
    { class: "msg trigger", dataset: { requestId, origin: kind } },
    meta,
    h("details", { class: "body" }, h("summary", { text: first.replace(/^#+\s*/, "") }), h("pre", { class: "trigger-text", text })),
  );
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
