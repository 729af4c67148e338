/** POSIX shell quoting for the command lines we print and hand to `sh -c`. */

// Words made only of these characters mean the same quoted or not, so they stay readable.
const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quotes one word for a POSIX shell: single quotes, with ' written as '\'' (nothing else is special inside them). */
export function shellQuote(word: string): string {
  if (SAFE.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Quotes every word and joins them into one command line. */
export function shellJoin(words: readonly string[]): string {
  return words.map(shellQuote).join(" ");
}
