/**
 * Agent Markdown → Telegram: a small Markdown-to-Telegram-HTML converter and a chunker that splits
 * long replies under Telegram's 4096-character message limit without breaking code fences.
 *
 * The converter only ever emits balanced, allowed tags (every tag is opened and closed around its
 * recursively rendered content) and respects Telegram's nesting rules: code and pre never sit
 * inside or around other entities, links never nest. Whatever it does not understand stays text.
 */

import { escapeHtml, renderInline } from "./markdown-inline.js";

/** Telegram's maximum message length (characters after entity parsing). */
export const TELEGRAM_MESSAGE_LIMIT = 4096;

// ---------------------------------------------------------------------------------------------
// Code fences (shared by the converter and the chunker, so both agree on what is code)

interface FenceOpen {
  /** The opening line as written (indentation, marker and info string). */
  line: string;
  indent: string;
  /** "```" or "~~~~" etc. */
  marker: string;
  lang: string;
}

const FENCE_OPEN = /^([ \t]*)(`{3,}|~{3,})[ \t]*([^\s`]*)[^`]*$/;
const FENCE_OPEN_TILDE = /^([ \t]*)(~{3,})[ \t]*(\S*).*$/;

function matchFenceOpen(line: string): FenceOpen | undefined {
  const match = FENCE_OPEN.exec(line) ?? FENCE_OPEN_TILDE.exec(line);
  if (!match) return undefined;
  return { line, indent: match[1] ?? "", marker: match[2] ?? "```", lang: match[3] ?? "" };
}

function isFenceClose(line: string, open: FenceOpen): boolean {
  const match = /^[ \t]*(`{3,}|~{3,})[ \t]*$/.exec(line);
  if (!match?.[1]) return false;
  return match[1][0] === open.marker[0] && match[1].length >= open.marker.length;
}

/** A fenced code block located in a text (offsets are UTF-16 indexes). */
export interface FenceRegion {
  open: FenceOpen;
  /** Offset of the opening line. */
  start: number;
  /** Offset just after the opening line's newline: where the code starts. */
  contentStart: number;
  /** Offset of the closing line (or the text's length when the fence is never closed). */
  contentEnd: number;
  /** Offset just after the closing line including its newline (text length if unclosed). */
  end: number;
  closed: boolean;
}

export function scanFences(text: string): FenceRegion[] {
  const regions: FenceRegion[] = [];
  let offset = 0;
  let current: { open: FenceOpen; start: number; contentStart: number } | undefined;
  while (offset <= text.length) {
    const newline = text.indexOf("\n", offset);
    const lineEnd = newline === -1 ? text.length : newline;
    const next = newline === -1 ? text.length + 1 : newline + 1;
    const line = text.slice(offset, lineEnd);
    if (current) {
      if (isFenceClose(line, current.open)) {
        regions.push({ ...current, contentEnd: offset, end: Math.min(next, text.length), closed: true });
        current = undefined;
      }
    } else {
      const open = matchFenceOpen(line);
      if (open) current = { open, start: offset, contentStart: Math.min(next, text.length) };
    }
    offset = next;
  }
  if (current) regions.push({ ...current, contentEnd: text.length, end: text.length, closed: false });
  return regions;
}

// ---------------------------------------------------------------------------------------------
// Chunking

/**
 * Splits `text` into chunks each strictly shorter than `limit` characters, preferring paragraph
 * boundaries, then line boundaries, then word boundaries, then a hard split. Nothing is dropped:
 * separators stay at the end of the chunk before the split, so joining the chunks gives back the
 * text, except for fence markers added when a split falls inside a code fence (the fence is
 * closed at the end of the chunk and reopened, with its language, at the start of the next).
 */
export function chunkMessage(text: string, limit = TELEGRAM_MESSAGE_LIMIT): string[] {
  if (!Number.isInteger(limit) || limit < 32) throw new RangeError(`chunk limit too small: ${limit}`);
  if (text.length < limit) return [text];
  const fences = scanFences(text);
  // Room kept free for a closing marker ("\n" + indent + marker) when a chunk ends inside a fence.
  const closeReserve = fences.reduce((max, fence) => Math.max(max, fence.open.indent.length + fence.open.marker.length + 1), 0);
  const chunks: string[] = [];
  let position = 0;
  let reopen = "";
  while (position < text.length) {
    const room = limit - 1 - reopen.length;
    if (text.length - position <= room) {
      chunks.push(reopen + text.slice(position));
      break;
    }
    const hardEnd = position + Math.max(1, room - closeReserve);
    let end = findSplit(text, position, hardEnd);
    let fence = fenceContaining(fences, end);
    if (fence) {
      if (fence.start > position && end <= fence.contentStart) {
        // Would split on or right after the opening line: split before the fence instead.
        end = fence.start;
        fence = undefined;
      } else if (fence.closed && end === fence.contentEnd && fence.end - position <= room) {
        // Split right before the closing line: take the closing line along instead of adding one.
        end = fence.end;
        fence = undefined;
      }
    }
    if (end <= position) end = Math.min(text.length, position + 1);
    const piece = text.slice(position, end);
    let suffix = "";
    if (fence) suffix = (piece.endsWith("\n") ? "" : "\n") + fence.open.indent + fence.open.marker;
    chunks.push(reopen + piece + suffix);
    reopen = fence ? fence.open.line + "\n" : "";
    position = end;
  }
  return chunks;
}

/** The fence whose code region holds `offset` (a split there must close and reopen it). */
function fenceContaining(fences: FenceRegion[], offset: number): FenceRegion | undefined {
  return fences.find((fence) => offset > fence.start && offset <= fence.contentEnd);
}

/** The best split offset in (from, to]: paragraph, else line, else word boundary, else `to`. */
function findSplit(text: string, from: number, to: number): number {
  const span = to - from;
  const paragraph = text.lastIndexOf("\n\n", to - 2);
  if (paragraph >= from + span / 2) {
    let end = paragraph + 2;
    while (end < to && text[end] === "\n") end++;
    return end;
  }
  const line = text.lastIndexOf("\n", to - 1);
  if (line >= from + span / 3) return line + 1;
  const window = text.slice(from, to);
  const space = Math.max(window.lastIndexOf(" "), window.lastIndexOf("\t"));
  if (space >= span / 2) return from + space + 1;
  let end = to;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff && end - 1 > from) end--; // never split a surrogate pair
  return end;
}

// ---------------------------------------------------------------------------------------------
// Markdown → Telegram HTML

/**
 * Converts the agent's Markdown to Telegram HTML (parse_mode "HTML"): &, <, > escaped;
 * **bold** or __bold__, *italic* or _italic_, ~~strike~~, `code`, fenced code blocks (with language),
 * [text](url) links, <https://autolinks>; headings become bold; lists, quotes and tables stay text.
 */
export function markdownToTelegramHtml(markdown: string): string {
  const lines = markdown.split("\n");
  const out: string[] = [];
  let index = 0;
  while (index < lines.length) {
    const line = lines[index] ?? "";
    const open = matchFenceOpen(line);
    if (open) {
      const body: string[] = [];
      index++;
      while (index < lines.length && !isFenceClose(lines[index] ?? "", open)) body.push(lines[index++] ?? "");
      index++; // the closing line (or past the end when the fence is never closed)
      out.push(codeBlock(body, open));
      continue;
    }
    const heading = /^[ \t]{0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/.exec(line);
    if (heading) out.push(heading[1] ? `<b>${renderInline(heading[1], { code: false, links: true })}</b>` : "");
    else out.push(renderInline(line, { code: true, links: true }));
    index++;
  }
  return out.join("\n");
}

function codeBlock(body: string[], open: FenceOpen): string {
  // Strip the fence's indentation from the code lines (as CommonMark does).
  const indent = open.indent.length;
  const code = body.map((line) => (indent > 0 ? line.replace(new RegExp(`^[ \\t]{0,${indent}}`), "") : line)).join("\n");
  const lang = open.lang.replace(/[^\w#+.-]/g, "");
  const openTag = lang ? `<code class="language-${lang}">` : "<code>";
  return `<pre>${openTag}${escapeHtml(code)}</code></pre>`;
}
