/**
 * DOM helpers that only ever make text: strings become text nodes, nothing is parsed as HTML.
 * Everything the server sends (agent text, event fields, session ids) is untrusted; the one place
 * that turns agent text into markup is ./markdown.ts, through a sanitizer.
 */

export type Child = Node | string | null | undefined;

/** Attributes of h(): `class`, `text` (the text content), `dataset`, or any plain attribute. */
export interface Props {
  class?: string;
  text?: unknown;
  dataset?: Record<string, unknown>;
  [attribute: string]: unknown;
}

/** An element of the page, checked to be of the expected kind (HTMLElement unless said). */
export function byId<T extends HTMLElement = HTMLElement>(id: string, kind?: new () => T): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`page is missing #${id}`);
  if (kind && !(node instanceof kind)) throw new Error(`#${id} is not a ${kind.name}`);
  return node as T;
}

/** Creates an element; an attribute whose value is undefined, null or false is left out. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = String(value);
    else if (key === "text") node.textContent = String(value);
    else if (key === "dataset") for (const [k, v] of Object.entries(value as Record<string, unknown>)) node.dataset[k] = String(v);
    else node.setAttribute(key, String(value));
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

/** Sets the text only when it changed (no needless layout, selections survive). */
export function setText(node: Node, text: unknown): void {
  const value = String(text);
  if (node.textContent !== value) node.textContent = value;
}
