/**
 * Markdown inline syntax (one line) → Telegram HTML. Each construct has one reader, chosen by the
 * character it starts with; a reader that does not match leaves the character as text.
 */

export function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function escapeAttribute(text: string): string {
  return escapeHtml(text).replace(/"/g, "&quot;");
}

export interface InlineAllow {
  /** Inline code allowed here (Telegram: code can't be nested in or contain other entities). */
  code: boolean;
  /** Links allowed here (links can't nest). */
  links: boolean;
}

const PUNCTUATION = /[!-/:-@[-`{-~]/;
const WORD = /[\p{L}\p{N}]/u;
const SAFE_URL = /^(?:https?:\/\/|tg:\/\/|mailto:|ftp:\/\/)\S+$/i;

/** What the construct at an offset renders to: finished HTML, or text still to be escaped; `end` is where it stops. */
type Piece = { html: string; end: number } | { literal: string; end: number };
type Reader = (text: string, start: number, allow: InlineAllow) => Piece | undefined;

export function renderInline(text: string, allow: InlineAllow): string {
  let out = "";
  let literal = "";
  let i = 0;
  while (i < text.length) {
    const char = text[i] ?? "";
    const piece = READERS.get(char)?.(text, i, allow);
    if (!piece) {
      literal += char;
      i++;
      continue;
    }
    if ("html" in piece) {
      out += escapeHtml(literal) + piece.html;
      literal = "";
    } else {
      literal += piece.literal;
    }
    i = piece.end;
  }
  return out + escapeHtml(literal);
}

/** A backslash before punctuation makes it text. */
const readEscape: Reader = (text, start) => {
  const next = text[start + 1];
  return next !== undefined && PUNCTUATION.test(next) ? { literal: next, end: start + 2 } : undefined;
};

/** `code` (any run of backticks, closed by a run of the same length); unclosed, the backticks stay text. */
const readCodeSpan: Reader = (text, start, allow) => {
  const run = runLength(text, start, "`");
  const close = findCodeSpanEnd(text, start + run, run);
  if (close === -1) return { literal: text.slice(start, start + run), end: start + run };
  let code = text.slice(start + run, close);
  if (code.length > 2 && code.startsWith(" ") && code.endsWith(" ") && code.trim()) code = code.slice(1, -1);
  const end = close + run;
  return allow.code ? { html: `<code>${escapeHtml(code)}</code>`, end } : { literal: code, end };
};

/** [text](url), and images ![alt](url), which become a link labelled with the alt text. */
const readLink: Reader = (text, start, allow) => {
  if (text[start] === "!" && text[start + 1] !== "[") return undefined;
  const link = parseLink(text, text[start] === "!" ? start + 1 : start);
  if (!link) return undefined;
  const label = link.label || link.url;
  const html = allow.links
    ? `<a href="${escapeAttribute(link.url)}">${renderInline(label, { code: false, links: false })}</a>`
    : `${renderInline(label, { ...allow, links: false })} (${escapeHtml(link.url)})`;
  return { html, end: link.end };
};

/** <https://example.com> */
const readAutolink: Reader = (text, start, allow) => {
  const match = /^<((?:https?|tg|mailto|ftp):[^\s<>]+)>/i.exec(text.slice(start));
  if (!match?.[1]) return undefined;
  const url = match[1];
  return { html: allow.links ? `<a href="${escapeAttribute(url)}">${escapeHtml(url)}</a>` : escapeHtml(url), end: start + match[0].length };
};

/** Emphasis: * _ (1 = italic, 2 = bold, 3 = both) and ~~strikethrough~~; an unmatched run stays text. */
const readEmphasis: Reader = (text, start, allow) => {
  const char = text[start] ?? "";
  const run = runLength(text, start, char);
  const valid = char === "~" ? run === 2 : run <= 3;
  const close = valid && canOpen(text, start, run, char) ? findEmphasisEnd(text, start + run, run, char) : -1;
  if (close === -1) return { literal: text.slice(start, start + run), end: start + run };
  const inner = renderInline(text.slice(start + run, close), { code: false, links: allow.links });
  return { html: emphasis(char, run, inner), end: close + run };
};

function emphasis(char: string, run: number, inner: string): string {
  if (char === "~") return `<s>${inner}</s>`;
  if (run === 1) return `<i>${inner}</i>`;
  if (run === 2) return `<b>${inner}</b>`;
  return `<b><i>${inner}</i></b>`;
}

const READERS = new Map<string, Reader>([
  ["\\", readEscape],
  ["`", readCodeSpan],
  ["[", readLink],
  ["!", readLink],
  ["<", readAutolink],
  ["*", readEmphasis],
  ["_", readEmphasis],
  ["~", readEmphasis],
]);

function runLength(text: string, start: number, char: string): number {
  let end = start;
  while (text[end] === char) end++;
  return end - start;
}

function findCodeSpanEnd(text: string, from: number, run: number): number {
  let i = from;
  while (i < text.length) {
    const next = text.indexOf("`", i);
    if (next === -1) return -1;
    const length = runLength(text, next, "`");
    if (length === run) return next;
    i = next + length;
  }
  return -1;
}

function canOpen(text: string, start: number, run: number, char: string): boolean {
  const after = text[start + run];
  if (after === undefined || /\s/.test(after)) return false;
  if (char === "_" || run === 1) {
    // snake_case and 2*3*4 stay text: _ and single * only open at the start of a word.
    const before = text[start - 1];
    if (before !== undefined && WORD.test(before)) return false;
  }
  return true;
}

/** Finds the closing delimiter run (same char, same length), skipping escapes and code spans. */
function findEmphasisEnd(text: string, from: number, run: number, char: string): number {
  let i = from;
  while (i < text.length) {
    const current = text[i];
    if (current === "\\") {
      i += 2;
      continue;
    }
    if (current === "`") {
      const ticks = runLength(text, i, "`");
      const close = findCodeSpanEnd(text, i + ticks, ticks);
      i = close === -1 ? i + ticks : close + ticks;
      continue;
    }
    if (current === char) {
      const length = runLength(text, i, char);
      const before = text[i - 1];
      const after = text[i + length];
      const mayCloseIntraword = char !== "_" && run !== 1;
      const closes =
        length === run && i > from && before !== undefined && !/\s/.test(before) && (mayCloseIntraword || after === undefined || !WORD.test(after));
      if (closes) return i;
      i += length;
      continue;
    }
    i++;
  }
  return -1;
}

interface ParsedLink {
  label: string;
  url: string;
  end: number;
}

/** Parses [label](url "optional title") at `start` (the "["). */
function parseLink(text: string, start: number): ParsedLink | undefined {
  let depth = 0;
  let i = start;
  for (; i < text.length; i++) {
    const char = text[i];
    if (char === "\\") {
      i++;
      continue;
    }
    if (char === "[") depth++;
    else if (char === "]" && --depth === 0) break;
  }
  if (i >= text.length || text[i + 1] !== "(") return undefined;
  const labelEnd = i;
  let parens = 0;
  let j = i + 2;
  for (; j < text.length; j++) {
    const char = text[j];
    if (char === "(") parens++;
    else if (char === ")") {
      if (parens === 0) break;
      parens--;
    }
  }
  if (j >= text.length) return undefined;
  const target = text.slice(i + 2, j).trim();
  const url = (/^<([^>]*)>/.exec(target)?.[1] ?? target.split(/\s+/)[0] ?? "").trim();
  if (!SAFE_URL.test(url)) return undefined;
  return { label: text.slice(start + 1, labelEnd), url, end: j + 1 };
}
