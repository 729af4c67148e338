// What a test reads off the LLM's side: the event ids a gateway prompt names, outside its fenced
// payloads (a payload may contain an `event-id:` line of its own). Production code never does
// this: the gateway knows what it delivered from the structured details of its messages.
import { DIGEST_HEADING, EVENT_ID_MARKER } from "../../src/host/event-prompt.js";

/** The lines of a prompt outside its fenced blocks (payloads are fenced and may contain anything). */
function* linesOutsideFences(text: string): Generator<string> {
  let fence: string | undefined;
  for (const line of text.split("\n")) {
    if (fence) {
      if (line === fence) fence = undefined;
      continue;
    }
    const open = /^(`{3,})/.exec(line);
    if (open) {
      fence = open[1];
      continue;
    }
    yield line;
  }
}

export function eventIdsIn(text: string): string[] {
  const ids: string[] = [];
  for (const line of linesOutsideFences(text)) {
    if (line.startsWith(EVENT_ID_MARKER)) ids.push(line.slice(EVENT_ID_MARKER.length).replace(/^`+ ?| ?`+$/g, ""));
  }
  return ids;
}

/** Events a gateway prompt sums up instead of naming them (its digests' `… and N more events` headings, outside fences). */
export function summedUpIn(text: string): number {
  const heading = new RegExp(`^### ${DIGEST_HEADING}(\\d+) more event`);
  let n = 0;
  for (const line of linesOutsideFences(text)) {
    const digest = heading.exec(line);
    if (digest) n += Number(digest[1]);
  }
  return n;
}
