/**
 * The daemon's state is private to its user: transcripts hold everything the agent saw, the config
 * directory holds the token. The daemon runs with umask 077, so what it writes from now on is
 * private; what an earlier version (or pi's own defaults, 0755 directories and 0644 `.jsonl`) left
 * readable by others is made private on start, and the start log says how many paths it fixed.
 */
import { chmodSync, lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";

/** Files and directories created from here on get no group or other permissions. */
export const PRIVATE_UMASK = 0o077;

export interface TightenResult {
  /** Paths whose mode lost group/other bits. */
  fixed: string[];
  /** Paths that could not be changed (not ours, gone), with why. */
  failed: Array<{ path: string; error: string }>;
}

/** Walks each root (not following symlinks, at most `maxEntries` paths) and removes group/other permissions. */
export function tightenModes(roots: string[], maxEntries = 100_000): TightenResult {
  const result: TightenResult = { fixed: [], failed: [] };
  let seen = 0;
  const visit = (path: string): void => {
    if (++seen > maxEntries) return;
    let stat;
    try {
      stat = lstatSync(path);
    } catch {
      return; // gone, or never there
    }
    if (stat.isSymbolicLink()) return;
    const mode = stat.mode & 0o777;
    if (mode & 0o077) {
      try {
        chmodSync(path, mode & 0o700);
        result.fixed.push(path);
      } catch (error) {
        result.failed.push({ path, error: (error as Error).message });
      }
    }
    if (stat.isDirectory()) {
      let names: string[] = [];
      try {
        names = readdirSync(path);
      } catch (error) {
        result.failed.push({ path, error: (error as Error).message });
      }
      for (const name of names) visit(join(path, name));
    }
  };
  for (const root of roots) visit(root);
  return result;
}
