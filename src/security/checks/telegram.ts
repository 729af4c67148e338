/** Who may talk to the agent through the Telegram bot. */
import { checkSetting } from "../../config/resolve.js";
import type { Env, Finding } from "../types.js";

export function checkTelegram(env: Env): Finding {
  const base = { id: "telegram-allowlist" as const, title: "Telegram allowlist" };
  if (!checkSetting("TELEGRAM_BOT_TOKEN", env.TELEGRAM_BOT_TOKEN).value)
    return { ...base, status: "skip", detail: "Telegram is not configured (TELEGRAM_BOT_TOKEN unset)" };
  const userList = checkSetting("TELEGRAM_ALLOWED_USERS", env.TELEGRAM_ALLOWED_USERS);
  const chatList = checkSetting("TELEGRAM_ALLOWED_CHATS", env.TELEGRAM_ALLOWED_CHATS);
  const pairingFlag = checkSetting("TELEGRAM_PAIRING", env.TELEGRAM_PAIRING);
  const problems = [userList.problem, chatList.problem, pairingFlag.problem].filter(Boolean);
  if (problems.length) {
    return {
      ...base,
      status: "fail",
      detail: `${problems.join("; ")}: the daemon refuses to start`,
      fix: "use numeric ids (your user id: message @userinfobot), comma-separated",
    };
  }
  const users = userList.value ?? [];
  const chats = chatList.value ?? [];
  // The daemon reads the same setting (default on): with it, strangers get a code, never the agent.
  const pairing = pairingFlag.value !== false;
  if (!users.length && !chats.length && pairing) {
    return {
      ...base,
      status: "warn",
      detail:
        "no allowlist: a stranger writing to the bot privately gets a one-time pairing code and nothing else; nothing reaches the agent until you approve the code " +
        "(approved users are kept in Redis, see `pi-gateway pair list`)",
      fix: "approve yourself with `pi-gateway pair approve <code>`, or set TELEGRAM_ALLOWED_USERS=<your numeric user id> to skip pairing",
    };
  }
  if (!users.length && !chats.length) {
    return {
      ...base,
      status: "fail",
      detail:
        "TELEGRAM_BOT_TOKEN is set but neither TELEGRAM_ALLOWED_USERS nor TELEGRAM_ALLOWED_CHATS is, and TELEGRAM_PAIRING=0: the channel fails closed and answers nobody, so the bot is useless " +
        "(and without an allowlist anyone who finds the bot could talk to your agent, should that ever change)",
      fix: "set TELEGRAM_ALLOWED_USERS=<your numeric user id> (message @userinfobot to learn it) in gateway.env, or unset TELEGRAM_BOT_TOKEN",
    };
  }
  const groups = chats.filter((c) => c < 0);
  const summary = `${users.length} allowed user(s), ${chats.length} allowed chat(s)${pairing ? "; pairing codes for others (pi-gateway pair)" : ""}`;
  if (groups.length) {
    return {
      ...base,
      status: "warn",
      detail: `${summary}; ${groups.length} of the chats are groups: every member of them can talk to your agent`,
      fix: "prefer TELEGRAM_ALLOWED_USERS (specific people) over whole group chats",
    };
  }
  return { ...base, status: "pass", detail: summary };
}
