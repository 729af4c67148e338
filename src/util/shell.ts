/** POSIX shell quoting for the command lines we print and hand to `sh -c`. */

// Words made only of these characters mean the same quoted or not, so they stay readable.
const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Always single-quotes: ' is written as '\'' (nothing else is special inside single quotes). */
export function singleQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Quotes one word for a POSIX shell, leaving words that need no quotes readable. */
export function shellQuote(word: string): string {
  return SAFE.test(word) ? word : singleQuote(word);
}

/** Quotes every word and joins them into one command line. */
export function shellJoin(words: readonly string[]): string {
  return words.map(shellQuote).join(" ");
}
