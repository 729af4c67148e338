/** `text` cut to at most `max` characters, with an ellipsis when it was cut. */
export function capText(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * Characters never shown raw in a message: C0 and C1 controls (ESC starts terminal escape
 * sequences; U+009B is a one-character CSI), DEL, line and paragraph separators, and the bidi
 * overrides/isolates that reorder what follows them on screen.
 */
// eslint-disable-next-line no-control-regex -- exactly the characters to escape
export const UNSAFE_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** `text` with every unsafe character as a `\uXXXX` escape (`\n`, `\t` and the like for the usual ones). */
export function escapeControls(text: string): string {
  return text.replace(UNSAFE_CHARACTERS, (c) => {
    const json = JSON.stringify(c).slice(1, -1);
    return json.startsWith("\\") ? json : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
  });
}

/** Longest part of a user's input quoted in a message: a pasted file must not flood the line. */
export const QUOTED_MAX = 60;

/**
 * User input as it may appear inside an error or a log line: double-quoted, controls and quotes
 * escaped (so it can neither break the line nor drive the terminal), cut to `max` characters
 * (whole code points) with an ellipsis inside the quotes when it was longer.
 */
export function quoteInput(text: string, max = QUOTED_MAX): string {
  const chars = [...text];
  return escapeControls(JSON.stringify(chars.length > max ? `${chars.slice(0, max).join("")}…` : text));
}

/**
 * JSON text whose strings carry no raw C1 control, DEL, line separator or bidi override (JSON
 * itself escapes C0): the same JSON value, safe to print on a terminal or to a log.
 */
export function safeJson(value: unknown, space?: number): string {
  return (JSON.stringify(value, null, space) ?? "null").replace(
    /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/**
 * JSON whose strings are well formed: a lone UTF-16 surrogate (a string cut inside an emoji)
 * serialises as "\ud83d", which Redis's JSON decoder (cjson, in the Lua scripts) refuses; it
 * becomes U+FFFD instead.
 */
export function wellFormedJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => (typeof item === "string" ? (item as string & { toWellFormed(): string }).toWellFormed() : item));
}
