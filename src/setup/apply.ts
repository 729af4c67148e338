/**
 * Carries out a setup plan idempotently: a file already as planned is left alone, a different file
 * of ours is backed up before it is replaced, and a file of the user's (policy "create") is never
 * touched once it exists. Running setup twice changes nothing the second time, and says so.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { PlannedFile, SetupPlan } from "./plan.js";

export type FileAction = "create" | "update" | "unchanged" | "kept";

export interface FileResult {
  path: string;
  action: FileAction;
  description: string;
  /** Where the previous version went, for "update". */
  backup?: string;
  /** "mode" when only the permissions differ. */
  reason?: string;
}

export function decide(file: PlannedFile): FileResult {
  const base = { path: file.path, description: file.description };
  if (!existsSync(file.path)) return { ...base, action: "create" };
  if (file.policy === "create") return { ...base, action: "kept", reason: "exists; yours to edit" };
  const same = readFileSync(file.path, "utf8") === file.content;
  const modeOk = (statSync(file.path).mode & 0o777) === file.mode;
  if (same && modeOk) return { ...base, action: "unchanged" };
  return { ...base, action: "update", reason: same ? "permissions" : "content" };
}

/** Applies the file part of a plan (commands are the caller's choice). With dryRun, only decides. */
export function applyFiles(plan: SetupPlan, options: { dryRun: boolean; now?: Date }): FileResult[] {
  const stamp = (options.now ?? new Date()).toISOString().replace(/[:.]/g, "-");
  return plan.files.map((file) => {
    const result = decide(file);
    if (options.dryRun || result.action === "unchanged" || result.action === "kept") return result;
    mkdirSync(dirname(file.path), { recursive: true, mode: file.mode === 0o600 ? 0o700 : 0o755 });
    if (result.action === "update" && result.reason === "content") {
      result.backup = `${file.path}.bak-${stamp}`;
      copyFileSync(file.path, result.backup);
    }
    writeFileSync(file.path, file.content, { mode: file.mode });
    chmodSync(file.path, file.mode); // writeFileSync's mode only applies to new files
    return result;
  });
}

export function changed(results: FileResult[]): boolean {
  return results.some((r) => r.action === "create" || r.action === "update");
}
