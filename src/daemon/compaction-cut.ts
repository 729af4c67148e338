/**
 * pi's compaction (0.73) chooses what to keep by adding up the sizes of `message` entries only. A
 * gateway message is a `custom_message` entry, so in a session of events (large prompts, short
 * replies) the walk never reaches keepRecentTokens and keeps everything: a compaction that frees
 * nothing, then a turn the provider refuses as too long. Before pi summarises (its
 * `session_before_compact` event), the cut is found again with pi's own findCutPoint over the
 * entries as the model sees them (a custom message is user content), and pi's preparation is
 * corrected in place when that cut frees more.
 */
import type { SessionBeforeCompactEvent } from "@mariozechner/pi-coding-agent";

type PiSdk = typeof import("@mariozechner/pi-coding-agent");
type Entry = SessionBeforeCompactEvent["branchEntries"][number];
type Message = SessionBeforeCompactEvent["preparation"]["messagesToSummarize"][number];

export function correctCompactionCut(sdk: Pick<PiSdk, "findCutPoint">, event: Pick<SessionBeforeCompactEvent, "preparation" | "branchEntries">): void {
  const { preparation, branchEntries: entries } = event;
  const previous = entries.findLastIndex((e) => e.type === "compaction");
  let start = 0;
  if (previous >= 0) {
    const compaction = entries[previous] as Extract<Entry, { type: "compaction" }>;
    const kept = entries.findIndex((e) => e.id === compaction.firstKeptEntryId);
    start = kept >= 0 ? kept : previous + 1;
  }
  const asModelSees = entries.map((e) =>
    e.type === "custom_message" ? ({ ...e, type: "message", message: { role: "user", content: e.content, timestamp: 0 } } as unknown as Entry) : e,
  );
  const cut = sdk.findCutPoint(asModelSees, start, entries.length, preparation.settings.keepRecentTokens);
  const piKept = entries.findIndex((e) => e.id === preparation.firstKeptEntryId);
  const kept = entries[cut.firstKeptEntryIndex];
  if (!kept || cut.firstKeptEntryIndex <= piKept) return;
  const historyEnd = cut.isSplitTurn ? cut.turnStartIndex : cut.firstKeptEntryIndex;
  preparation.firstKeptEntryId = kept.id;
  preparation.messagesToSummarize = messagesOf(entries.slice(start, historyEnd));
  preparation.turnPrefixMessages = cut.isSplitTurn ? messagesOf(entries.slice(cut.turnStartIndex, cut.firstKeptEntryIndex)) : [];
  preparation.isSplitTurn = cut.isSplitTurn;
}

/** The messages of entries, as pi's compaction reads them (an earlier compaction's summary is its previousSummary). */
function messagesOf(entries: Entry[]): Message[] {
  return entries.flatMap((e): Message[] => {
    const timestamp = new Date(e.timestamp).getTime();
    if (e.type === "message") return [e.message];
    if (e.type === "custom_message")
      return [{ role: "custom", customType: e.customType, content: e.content, display: e.display, details: e.details, timestamp }];
    if (e.type === "branch_summary") return [{ role: "branchSummary", summary: e.summary, fromId: e.fromId, timestamp }];
    return [];
  });
}
