/** `text` cut to at most `max` characters, with an ellipsis when it was cut. */
export function capText(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
