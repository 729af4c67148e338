/**
 * Agent replies rendered as Markdown (marked, GitHub flavour, single newlines kept as line breaks,
 * as the plain text showed them). Raw HTML in a reply is shown as text, never as markup, and the
 * HTML marked makes goes through DOMPurify before it reaches the page: no script, no event
 * handler attribute, no javascript: link survives either step.
 */
import DOMPurify from "dompurify";
import { Marked } from "marked";

const HTML_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

const marked = new Marked({
  async: false,
  gfm: true,
  breaks: true,
  // An HTML block or tag in the reply stays what the agent wrote: text (a block keeps its lines).
  renderer: {
    html: (token) => ("block" in token && token.block ? `<p>${escapeHtml(token.text.trim()).replace(/\n/g, "<br>")}</p>` : escapeHtml(token.text)),
  },
});

const purify = DOMPurify(window);
// Links leave the page in a new tab, without telling the target where they came from.
purify.addHook("afterSanitizeAttributes", (node) => {
  if (node instanceof HTMLAnchorElement && node.hasAttribute("href")) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer");
  }
});

/** The Markdown `source` as sanitized DOM nodes, ready to put into the page. */
export function renderMarkdown(source: string): DocumentFragment {
  const html = marked.parse(source, { async: false });
  return purify.sanitize(html, { RETURN_DOM_FRAGMENT: true, FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select"] });
}
