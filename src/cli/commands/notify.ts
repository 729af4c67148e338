/** `pi-gateway notify "text"`: tell the owner (what the agent's gateway_notify does, for scripts). */
import type { Command } from "commander";
import { checkNotificationText } from "../../bus/notifications.js";
import { resolveBusOptions } from "../../config/bus-options.js";
import { DEFAULT_CENTRAL_SESSION } from "../../protocol/keys.js";
import { action, globalOptions, print, printJson, usage, withBusRetrying } from "../context.js";

export function registerNotify(program: Command): void {
  program
    .command("notify")
    .description("tell the owner: the daemon sends it to the Telegram owner and every WebSocket/web client; kept until a daemon runs")
    .argument("<text>", "the message")
    .option("--file <path>", "a file on the daemon's host: sent to the owner's Telegram chat as a photo or document (WebSocket clients get its path)")
    .option("--from <name>", "who sends it (default: $GATEWAY_SESSION_ID or cli)")
    .action(
      action(async (text: string, flags: { file?: string; from?: string }, command: Command) => {
        const options = globalOptions(command);
        const checked = usage(() => checkNotificationText(text));
        const from = flags.from ?? (process.env.GATEWAY_SESSION_ID || "cli");
        const window = { ms: resolveBusOptions().pushRetryMs, from: "GATEWAY_PUSH_RETRY" };
        const { notice, daemon } = await withBusRetrying(options, window, async (bus) => {
          const notice = await bus.notifications.notify({ text: checked, from, ...(flags.file ? { file: flags.file } : {}) });
          const holder = await bus.leaseHolder(DEFAULT_CENTRAL_SESSION);
          return { notice, daemon: holder?.kind === "daemon" };
        });
        if (options.json) printJson({ id: notice.id, pending: !daemon });
        else print(`notification ${notice.id} kept for the owner`);
        // Still a success: it waits in Redis; `status` counts it and `tail --kind notify` shows it.
        if (!daemon) process.stderr.write("pi-gateway: no daemon owns the central session now: the notification waits until one starts\n");
      }),
    );
}
