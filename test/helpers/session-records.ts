// Reads what pi's session files on disk hold of the gateway: the event ids in the details of every
// gateway message entry. This is the end of the line for "delivered": the agent's session has it.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

function jsonlFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...jsonlFiles(path));
    else if (name.endsWith(".jsonl")) out.push(path);
  }
  return out;
}

/** The details of every gateway message entry, over every session file under `sessionsDir` (file by file, in order). */
export function gatewayDetailsIn(sessionsDir: string): Array<{ ids: unknown[]; again?: unknown; batch?: unknown }> {
  const out: Array<{ ids: unknown[]; again?: unknown; batch?: unknown }> = [];
  for (const file of jsonlFiles(sessionsDir)) {
    for (const line of readFileSync(file, "utf8").split("\n")) {
      if (!line.includes('"custom_message"')) continue;
      let entry: { type?: string; customType?: string; details?: { ids?: unknown; again?: unknown; batch?: unknown } };
      try {
        entry = JSON.parse(line);
      } catch {
        continue; // a line cut by a kill -9 mid-write
      }
      if (entry.type !== "custom_message" || entry.customType !== "pi-gateway" || !Array.isArray(entry.details?.ids)) continue;
      out.push({ ids: entry.details.ids, again: entry.details.again, batch: entry.details.batch });
    }
  }
  return out;
}

/** How many times each event id was recorded, over every session file under `sessionsDir`. */
export function recordedEventIds(sessionsDir: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const details of gatewayDetailsIn(sessionsDir)) for (const id of details.ids) if (typeof id === "string") counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

/**
 * How many distinct messages recorded each event id: entries with the same `batch` are one message
 * (the daemon's session-file rotation copies the messages it keeps into the continued file).
 */
export function recordedEventMessages(sessionsDir: string): Map<string, number> {
  const batches = new Map<string, Set<unknown>>();
  for (const details of gatewayDetailsIn(sessionsDir))
    for (const id of details.ids) if (typeof id === "string") batches.set(id, (batches.get(id) ?? new Set()).add(details.batch));
  return new Map([...batches].map(([id, set]) => [id, set.size]));
}
