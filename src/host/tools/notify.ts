/** gateway_notify: tell the owner (the agent's `pi-gateway notify`), kept in Redis until a daemon delivers it. */
import { statSync } from "node:fs";
import { homedir } from "node:os";
import { resolve } from "node:path";
import { Type } from "typebox";
import { checkNotificationText, NOTIFICATION_TEXT_MAX } from "../../bus/notifications.js";
import { DEFAULT_CENTRAL_SESSION } from "../../protocol/keys.js";
import { checked, ToolFailure, withGateway, type GatewayToolContext } from "./context.js";
import type { GatewayTool } from "./pi-tool.js";

const parameters = Type.Object({
  text: Type.String({ description: `What to tell the owner (1-${NOTIFICATION_TEXT_MAX} characters).`, maxLength: NOTIFICATION_TEXT_MAX }),
  file: Type.Optional(
    Type.String({ description: "A file to send along: a path to an existing regular file (relative to the working directory, or absolute; ~ is home)." }),
  ),
});

export interface NotifyDetails {
  id: string;
  file?: string;
  /** No daemon owns the central session now: it waits in Redis until one starts. */
  pending: boolean;
}

export function notifyTool(ctx: GatewayToolContext): GatewayTool<typeof parameters, NotifyDetails> {
  return {
    name: "gateway_notify",
    label: "Notify the owner",
    description:
      "Tell the owner something (a result, a question, a warning) outside this conversation: the gateway daemon sends it to the owner's Telegram chat " +
      "(when configured) and to every web page / WebSocket client, and journals it (pi-gateway tail). Without a running daemon it is kept and delivered " +
      "when one starts, never dropped. Optionally attach a file by path.",
    promptSnippet: "gateway_notify: tell the owner something via Telegram / web page (optionally with a file)",
    parameters,
    async run(params, call) {
      const text = checked(() => checkNotificationText(params.text));
      const file = params.file === undefined ? undefined : notificationFile(params.file, call.cwd);
      const { notice, daemon } = await withGateway(ctx, "store the notification", async (bus, sessionId) => {
        const notice = await bus.notifications.notify({ text, from: sessionId, ...(file ? { file } : {}) });
        const holder = await bus.leaseHolder(DEFAULT_CENTRAL_SESSION);
        return { notice, daemon: holder?.kind === "daemon" };
      });
      const where = daemon
        ? "the daemon delivers it to the owner (Telegram, web page, WebSocket clients)"
        : "no daemon runs now: it is kept in Redis and delivered when one starts (pi-gateway status counts it)";
      return {
        text: `notification ${notice.id} stored${file ? ` with file ${file}` : ""}: ${where}`,
        details: { id: notice.id, ...(file ? { file } : {}), pending: !daemon },
      };
    },
  };
}

/** The file's absolute path once it is known to be an existing regular file (symbolic links followed). */
export function notificationFile(input: string, cwd: string): string {
  if (!input.trim()) throw new ToolFailure("file is empty: leave it out, or give the path of an existing file");
  if (input.includes("\0")) throw new ToolFailure("file contains a NUL character: give a plain path");
  const path = resolve(cwd, input === "~" || input.startsWith("~/") ? homedir() + input.slice(1) : input);
  let stat;
  try {
    stat = statSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ToolFailure(code === "ENOENT" ? `file ${path} does not exist` : `file ${path} cannot be read (${code ?? (error as Error).message})`);
  }
  if (!stat.isFile()) throw new ToolFailure(`file ${path} is not a regular file (a directory or a device): give the path of a file`);
  return path;
}
