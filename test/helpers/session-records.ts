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

/** How many times each event id was recorded, over every session file under `sessionsDir`. */
export function recordedEventIds(sessionsDir: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const file of jsonlFiles(sessionsDir)) {
    for (const line of readFileSync(file, "utf8").split("\n")) {
      if (!line.includes('"custom_message"')) continue;
      let entry: { type?: string; customType?: string; details?: { ids?: unknown } };
      try {
        entry = JSON.parse(line);
      } catch {
        continue; // a line cut by a kill -9 mid-write
      }
      if (entry.type !== "custom_message" || entry.customType !== "pi-gateway" || !Array.isArray(entry.details?.ids)) continue;
      for (const id of entry.details.ids) if (typeof id === "string") counts.set(id, (counts.get(id) ?? 0) + 1);
    }
  }
  return counts;
}
