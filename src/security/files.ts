/** The real file system as the security audit sees it (tests hand in their own view instead). */
import { readdirSync, readFileSync, statSync } from "node:fs";
import type { AuditFiles } from "./audit.js";

export function nodeAuditFiles(): AuditFiles {
  return {
    stat(path) {
      try {
        const s = statSync(path);
        return { mode: s.mode & 0o7777, uid: s.uid, isDirectory: s.isDirectory() };
      } catch {
        return undefined;
      }
    },
    read(path) {
      try {
        return readFileSync(path, "utf8");
      } catch {
        return undefined;
      }
    },
    list(dir) {
      try {
        return readdirSync(dir);
      } catch {
        return [];
      }
    },
  };
}
