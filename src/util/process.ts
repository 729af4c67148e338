/** Small facts about other processes on this host. */
import { readFileSync } from "node:fs";

/** Is a process with this pid alive? (EPERM: alive, owned by someone else; a zombie is not.) */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ESRCH";
  }
  return !isZombie(pid);
}

/** Linux only (elsewhere false): an exited child its parent has not reaped yet still takes signals. */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return false;
  }
}
