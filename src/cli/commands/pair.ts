/** `pi-gateway pair list | approve <code> | revoke <user id>`: Telegram pairing (src/bus/pairing.ts). */
import type { Command } from "commander";
import { checkPairingUserId, describeUnreadable, normalisePairingCode, type ApprovedUser, type PairingRequest } from "../../bus/pairing.js";
import { action, ago, globalOptions, oneLine, print, printJson, table, withBus } from "../context.js";

function who(user: { userId: string; username?: string; name?: string }): string {
  return oneLine([user.username ? `@${user.username}` : "", user.name ?? ""].filter(Boolean).join(" ") || "?");
}

function printList(requests: PairingRequest[], approved: ApprovedUser[], now = Date.now()): void {
  if (requests.length === 0) print("no pairing requests waiting");
  else {
    const rows = requests.map((r) => [
      oneLine(r.code),
      oneLine(r.userId),
      who(r),
      ago(r.createdAt, now),
      `${Math.max(0, Math.round((r.expiresAt - now) / 60_000))}m`,
    ]);
    print(table(["code", "user id", "who", "asked", "expires in"], rows));
    print(`approve one with: pi-gateway pair approve <code>`);
  }
  print("");
  if (approved.length === 0) print("no paired users (TELEGRAM_ALLOWED_USERS are allowed as well)");
  else
    print(
      table(
        ["paired user id", "who", "approved"],
        approved.map((a) => [oneLine(a.userId), who(a), ago(a.approvedAt, now)]),
      ),
    );
}

export function registerPair(program: Command): void {
  const pair = program.command("pair").description("Telegram pairing: unknown users get a code; approve it here to let them talk to the agent");
  pair
    .command("list")
    .description("pairing requests waiting (code, user, expiry) and the paired users")
    .action(
      action(async (_flags: unknown, command: Command) => {
        const options = globalOptions(command);
        await withBus(options, async (bus) => {
          const { requests, approved, unreadable } = await bus.pairing.list();
          if (options.json) printJson({ requests, approved, unreadable });
          else printList(requests, approved);
          for (const entry of unreadable) process.stderr.write(`pi-gateway: ${describeUnreadable(entry)}\n`);
        });
      }),
    );
  pair
    .command("approve")
    .description("approve a pairing code: its user may talk to the agent from now on (exit 2 for an unknown or expired code)")
    .argument("<code>", "the code the user got from the bot")
    .action(
      action(async (code: string, _flags: unknown, command: Command) => {
        const options = globalOptions(command);
        // A malformed code is a usage error (exit 2) before anything connects.
        const normal = normalisePairingCode(code);
        await withBus(options, async (bus) => {
          const user = await bus.pairing.approve(normal);
          if (options.json) printJson({ approved: user });
          else print(`paired Telegram user ${user.userId} (${who(user)}); their next message reaches the agent`);
        });
      }),
    );
  pair
    .command("revoke")
    .description("remove a paired user (their messages are blocked again; TELEGRAM_ALLOWED_USERS is not changed)")
    .argument("<user>", "the numeric Telegram user id")
    .action(
      action(async (user: string, _flags: unknown, command: Command) => {
        const options = globalOptions(command);
        const userId = checkPairingUserId(user);
        await withBus(options, async (bus) => {
          const removed = await bus.pairing.revoke(userId);
          if (options.json) printJson({ revoked: removed, userId });
          else print(removed ? `revoked Telegram user ${userId}` : `Telegram user ${userId} was not paired`);
          if (!removed) process.exitCode = 1;
        });
      }),
    );
}
