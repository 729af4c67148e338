/**
 * Small facts about a session id's lease holder: whether it provably died, and how it is named to
 * a user, in one place (the daemon's refusal, the extension's status bar and /gateway, the CLI).
 */
import { hostname } from "node:os";
import { processAlive } from "../util/process.js";
import type { LeaseHolder } from "./bus.js";

/** Is the holder's process provably gone: on this host, and no live process has its pid any more. */
export function processGone(holder: { host: string; pid: number | undefined }): boolean {
  return holder.host === hostname() && Boolean(holder.pid) && !processAlive(holder.pid!);
}

/** "daemon pid 1234 on host-a, since 10:02" (the date too when it is not today). */
export function describeHolder(holder: LeaseHolder, now = Date.now()): string {
  const who = `${holder.kind}${holder.pid ? ` pid ${holder.pid}` : ""}${holder.host ? ` on ${holder.host}` : ""}`;
  return holder.since ? `${who}, since ${sinceLabel(holder.since, now)}` : who;
}

function sinceLabel(at: number, now: number): string {
  const date = new Date(at);
  const pad = (n: number) => String(n).padStart(2, "0");
  const time = `${pad(date.getHours())}:${pad(date.getMinutes())}`;
  const sameDay = new Date(now).toDateString() === date.toDateString();
  return sameDay ? time : `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${time}`;
}
