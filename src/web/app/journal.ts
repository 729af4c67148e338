/**
 * The live event journal: GET api/journal?after=<newest streamId> every 2 s, newest entry on top,
 * at most JOURNAL_MAX entries kept.
 */
import type { JournalEntry } from "../../bus/status-types.js";
import { api } from "./auth.js";
import { h, setText } from "./dom.js";
import { clock, compareStreamIds, fullTime, isoTime } from "./format.js";
import { ui } from "./ui.js";

export const JOURNAL_MAX = 200;

/** The newest streamId shown: null before the first poll, "" when the journal was empty then. */
let last: string | null = null;
const seen = new Set<string>();

/** Starts over (a new token): the next poll fills the list anew. */
export function resetJournal(): void {
  last = null;
  seen.clear();
}

function journalRow(entry: JournalEntry, fresh: boolean): HTMLElement {
  const kind = String(entry.kind ?? "?");
  const sessions = Array.isArray(entry.sessions) ? entry.sessions.map(String) : [];
  // A `replied` entry carries the reply's first line: the outcome of a turn no channel showed.
  const detail = [entry.id ? String(entry.id) : "", entry.reason ? String(entry.reason) : "", entry.reply ? String(entry.reply) : ""]
    .filter(Boolean)
    .join(" — ");
  const at = Number(entry.at);
  return h(
    "li",
    { class: `entry kind-${kind.replace(/[^a-z-]/gi, "")}${fresh ? " fresh" : ""}`, dataset: { streamId: String(entry.streamId), kind } },
    h(
      "div",
      { class: "entry-line" },
      h("span", { class: "pill kind", text: kind }),
      h("span", { class: "type", text: entry.type ? String(entry.type) : "" }),
      h("span", { class: "source", text: entry.source ? String(entry.source) : entry.channel ? `via ${entry.channel}` : "" }),
      h("time", { class: "time", datetime: isoTime(entry.at), title: fullTime(at), text: clock(at) }),
    ),
    h(
      "div",
      { class: "entry-line sub" },
      h("span", { class: "sessions", text: sessions.length ? `→ ${sessions.join(", ")}` : "" }),
      h("span", { class: "detail mono", title: detail || undefined, text: detail }),
    ),
  );
}

/** The entries of an answer not shown yet, oldest first. */
function newEntries(result: unknown): JournalEntry[] {
  const entries = (result as { entries?: unknown } | null)?.entries;
  return (Array.isArray(entries) ? (entries as unknown[]) : [])
    .filter((e): e is JournalEntry => !!e && typeof (e as JournalEntry).streamId === "string" && !seen.has((e as JournalEntry).streamId))
    .sort((a, b) => compareStreamIds(a.streamId, b.streamId));
}

function show(entries: JournalEntry[]): void {
  ui.journal.querySelector(".placeholder")?.remove();
  const fresh = last !== null;
  for (const entry of entries) {
    seen.add(entry.streamId);
    ui.journal.prepend(journalRow(entry, fresh));
    if (!last || compareStreamIds(entry.streamId, last) > 0) last = entry.streamId;
  }
  while (ui.journal.children.length > JOURNAL_MAX) {
    const oldest = ui.journal.lastElementChild as HTMLElement;
    seen.delete(oldest.dataset.streamId ?? "");
    oldest.remove();
  }
  setTimeout(() => {
    for (const li of ui.journal.querySelectorAll(".fresh")) li.classList.remove("fresh");
  }, 1500);
}

export async function pollJournal(): Promise<void> {
  const params = new URLSearchParams({ limit: String(JOURNAL_MAX) });
  if (last) params.set("after", last);
  const entries = newEntries(await api(`api/journal?${params}`));
  if (last === null) ui.journal.replaceChildren();
  if (entries.length) show(entries);
  else if (last === null) {
    ui.journal.append(h("li", { class: "placeholder", text: "no journal entries yet" }));
    last = "";
  }
  updateJournalCount();
}

function updateJournalCount(): void {
  const n = ui.journal.querySelectorAll(".entry").length;
  setText(ui.journalCount, n ? `${n} latest${n >= JOURNAL_MAX ? " (max)" : ""}` : "");
}
