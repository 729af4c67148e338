/**
 * Keeps the daemon's pi session file (and pi's in-memory copy of it) bounded. pi's session file is
 * append-only: a compaction adds a summary but keeps every older entry, in the file and in the
 * SessionManager's memory, so an always-on session grows with everything it ever saw.
 *
 * After a compaction, a file larger than `GATEWAY_SESSION_FILE_MAX` is continued in a new file that
 * holds only what the model still sees: the compaction's kept messages, the compaction (summary)
 * and what came after, plus the latest model / thinking-level choice. pi's SessionContext of the new
 * file is the same as the old one's. The new file names the old one (`parentSession` in its header,
 * and a `pi-gateway.rotated` entry with the old file's first kept entry), so the history API can
 * read the conversation across files. The old file stays on disk, as after pi's own `/new`.
 *
 * Crash safety: the new file is written under a temporary name and renamed into place, so a crash
 * leaves either the old file as the newest (resumed as before) or the whole new one.
 */
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { SessionEntry, SessionManager } from "@mariozechner/pi-coding-agent";
import { buildHistory, ORIGIN_ENTRY_TYPE, type HistorySegment } from "./history.js";

type PiSdk = typeof import("@mariozechner/pi-coding-agent");

/** customType of the first entry of a continued file: where the conversation came from. */
export const ROTATED_ENTRY_TYPE = "pi-gateway.rotated";

export interface RotatedFrom {
  /** The previous session file. */
  file: string;
  /** The previous file's first entry copied into this one: the previous file's history ends before it. */
  boundary: string;
}

/**
 * Writes the continued file for `manager`'s current branch and returns its path, or undefined when
 * the branch has no compaction to continue from (nothing would shrink).
 */
export function writeContinuedSession(sdk: PiSdk, manager: SessionManager): string | undefined {
  const oldFile = manager.getSessionFile();
  const branch = manager.getBranch();
  const compactionAt = branch.findLastIndex((e) => e.type === "compaction");
  const compaction = branch[compactionAt];
  if (!oldFile || compaction?.type !== "compaction") return undefined;
  let firstKept = branch.findIndex((e) => e.id === compaction.firstKeptEntryId);
  if (firstKept < 0 || firstKept > compactionAt) return undefined;
  // The origin entry of the first kept prompt goes with it, so its badge survives the move.
  const previous = branch[firstKept - 1];
  if (previous?.type === "custom" && previous.customType === ORIGIN_ENTRY_TYPE) firstKept -= 1;

  const next = sdk.SessionManager.inMemory(manager.getCwd());
  next.newSession({ parentSession: oldFile });
  next.appendCustomEntry(ROTATED_ENTRY_TYPE, { file: oldFile, boundary: branch[firstKept]!.id } satisfies RotatedFrom);
  copySettings(branch.slice(0, firstKept), next);
  const kept = branch
    .slice(firstKept, compactionAt)
    .map((entry) => copyEntry(entry, next))
    .filter((id) => id !== undefined);
  // A compaction that kept nothing points at itself: the summary alone is the context.
  const summary = next.appendCompaction(compaction.summary, kept[0] ?? "", compaction.tokensBefore, compaction.details, compaction.fromHook);
  if (kept.length === 0) rewriteFirstKept(next, summary);
  for (const entry of branch.slice(compactionAt + 1)) copyEntry(entry, next);

  const header = next.getHeader();
  if (!header) return undefined;
  const file = join(manager.getSessionDir(), `${header.timestamp.replace(/[:.]/g, "-")}_${header.id}.jsonl`);
  const lines = [header, ...next.getEntries()].map((entry) => JSON.stringify(entry)).join("\n");
  // Not ending in .jsonl: pi never resumes a half-written temporary file.
  const temporary = `${file}.writing`;
  writeFileSync(temporary, `${lines}\n`, { mode: 0o600 });
  renameSync(temporary, file);
  return file;
}

/** The latest model and thinking level chosen before the kept part, so the new file resumes with them. */
function copySettings(before: SessionEntry[], next: SessionManager): void {
  const model = before.findLast((e) => e.type === "model_change");
  if (model?.type === "model_change") next.appendModelChange(model.provider, model.modelId);
  const thinking = before.findLast((e) => e.type === "thinking_level_change");
  if (thinking?.type === "thinking_level_change") next.appendThinkingLevelChange(thinking.thinkingLevel);
}

/** Appends a copy of one branch entry (a new id, the same content); returns the new id, or undefined when not copied. */
function copyEntry(entry: SessionEntry, next: SessionManager): string | undefined {
  switch (entry.type) {
    case "message":
      // Summaries are entries of their own (compaction, branch_summary), never message entries.
      if (entry.message.role === "branchSummary" || entry.message.role === "compactionSummary") return undefined;
      return next.appendMessage(entry.message);
    case "custom":
      return next.appendCustomEntry(entry.customType, entry.data);
    case "custom_message":
      return next.appendCustomMessageEntry(entry.customType, entry.content, entry.display, entry.details);
    case "model_change":
      return next.appendModelChange(entry.provider, entry.modelId);
    case "thinking_level_change":
      return next.appendThinkingLevelChange(entry.thinkingLevel);
    default:
      // Older compactions, branch summaries, labels, names: superseded by the latest compaction.
      return undefined;
  }
}

function rewriteFirstKept(next: SessionManager, compactionId: string): void {
  const entry = next.getEntry(compactionId);
  if (entry?.type === "compaction") entry.firstKeptEntryId = compactionId;
}

/** Where a continued file came from (its `pi-gateway.rotated` entry), if it is one. */
export function rotatedFrom(entries: readonly SessionEntry[]): RotatedFrom | undefined {
  const entry = entries.find((e) => e.type === "custom" && e.customType === ROTATED_ENTRY_TYPE);
  if (entry?.type !== "custom") return undefined;
  const data = entry.data as Partial<RotatedFrom> | undefined;
  return typeof data?.file === "string" && typeof data.boundary === "string" ? { file: data.file, boundary: data.boundary } : undefined;
}

/** How many continued files back the history API reads at most (an unknown `before` id reads them all). */
export const HISTORY_FILES_MAX = 20;

/**
 * The history of a session's branch, and a way to read the file it continued (lazily: a page reads an
 * older file only when it reaches into it). Items the continued file copied are taken from it, not twice.
 */
export function historySegment(sdk: PiSdk, entries: readonly SessionEntry[], depth = 0, boundary?: string): HistorySegment {
  const cut = boundary === undefined ? -1 : entries.findIndex((e) => e.id === boundary);
  const from = rotatedFrom(entries);
  const older = from && depth < HISTORY_FILES_MAX ? () => openSegment(sdk, from, depth + 1) : undefined;
  return { items: buildHistory(cut >= 0 ? entries.slice(0, cut) : entries), older };
}

function openSegment(sdk: PiSdk, from: RotatedFrom, depth: number): HistorySegment | undefined {
  try {
    return historySegment(sdk, sdk.SessionManager.open(from.file).getBranch(), depth, from.boundary);
  } catch {
    // Deleted or unreadable: the history starts where the files that are left start.
    return undefined;
  }
}
