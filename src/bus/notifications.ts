/**
 * Notifications for the owner: a capped Redis stream plus a "delivered up to here" pointer. Anyone
 * appends (the CLI, a satellite, a tool); the daemon owning the central id hands the pending ones to
 * its channels and moves the pointer. With no daemon running they wait, counted by `status` and
 * journaled (`notify`) for `tail`: never dropped, short of the cap.
 */
import { GatewayError } from "./errors.js";
import { firstLine } from "./journal.js";
import type { BusContext } from "./types.js";

export interface NewNotification {
  text: string;
  /** A file to send along (a path on the daemon's host). */
  file?: string;
  /** Who sends it: "cli", a session id... */
  from: string;
}

export interface Notification extends NewNotification {
  /** The stream id (also the order). */
  id: string;
  at: number;
}

/** Notifications kept (delivered or not); past this the oldest go first. */
export const NOTIFICATIONS_CAP = 1_000;
export const NOTIFICATION_TEXT_MAX = 4_000;

export class NotificationStore {
  constructor(private readonly ctx: BusContext) {}

  async notify(input: NewNotification): Promise<Notification> {
    const text = checkNotificationText(input.text);
    const { keys, options } = this.ctx;
    const id = String(
      await this.ctx.scripts.notify(
        [keys.notifications, keys.journal],
        [NOTIFICATIONS_CAP, options.journalCap, text, input.file ?? "", input.from, firstLine(text)],
      ),
    );
    return { ...input, text, id, at: streamTime(id) };
  }

  /** The oldest `limit` notifications not yet delivered. */
  async pending(limit = 100): Promise<Notification[]> {
    const after = (await this.ctx.client.get(this.ctx.keys.notificationsDelivered)) ?? "0-0";
    const rows = await this.ctx.client.xrange(this.ctx.keys.notifications, `(${after}`, "+", "COUNT", limit);
    return rows.map(([id, fields]) => toNotification(id, fields));
  }

  /** How many wait for a daemon (counted up to the cap). */
  async pendingCount(): Promise<number> {
    return (await this.pending(NOTIFICATIONS_CAP)).length;
  }

  /** Marks it (and everything before it) delivered, journaling `notified`; false if already marked. */
  async markDelivered(id: string, channels: string[]): Promise<boolean> {
    const { keys, options } = this.ctx;
    return Number(await this.ctx.scripts.notified([keys.notificationsDelivered, keys.journal], [id, options.journalCap, channels.join(",")])) === 1;
  }
}

export function checkNotificationText(text: string): string {
  if (!text.trim()) throw new GatewayError("the notification's text is empty", "USAGE");
  if (text.length > NOTIFICATION_TEXT_MAX)
    throw new GatewayError(`the notification's text is ${text.length} characters, over ${NOTIFICATION_TEXT_MAX}`, "USAGE");
  return text;
}

function toNotification(id: string, fields: string[]): Notification {
  const map: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) map[fields[i]!] = fields[i + 1]!;
  return { id, at: streamTime(id), text: map.text ?? "", from: map.from ?? "?", ...(map.file ? { file: map.file } : {}) };
}

function streamTime(id: string): number {
  return Number(id.split("-")[0]);
}
