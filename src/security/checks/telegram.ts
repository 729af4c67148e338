/** Who may talk to the agent through the Telegram bot. */
import type { Env, Finding } from "../types.js";

export function checkTelegram(env: Env): Finding {
  const base = { id: "telegram-allowlist" as const, title: "Telegram allowlist" };
  if (!env.TELEGRAM_BOT_TOKEN) return { ...base, status: "skip", detail: "Telegram is not configured (TELEGRAM_BOT_TOKEN unset)" };
  const list = (name: string) =>
    (env[name] ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
  const users = list("TELEGRAM_ALLOWED_USERS");
  const chats = list("TELEGRAM_ALLOWED_CHATS");
  const bad = [...users.map((v) => ["TELEGRAM_ALLOWED_USERS", v]), ...chats.map((v) => ["TELEGRAM_ALLOWED_CHATS", v])].filter(([, v]) => !/^-?\d+$/.test(v!));
  if (bad.length) {
    return {
      ...base,
      status: "fail",
      detail: `${bad.map(([n, v]) => `${n}: "${v}" is not a numeric Telegram id`).join("; ")}: the daemon refuses to start`,
      fix: "use numeric ids (your user id: message @userinfobot), comma-separated",
    };
  }
  if (!users.length && !chats.length) {
    return {
      ...base,
      status: "fail",
      detail:
        "TELEGRAM_BOT_TOKEN is set but neither TELEGRAM_ALLOWED_USERS nor TELEGRAM_ALLOWED_CHATS is: the channel fails closed and answers nobody, so the bot is useless " +
        "(and without an allowlist anyone who finds the bot could talk to your agent, should that ever change)",
      fix: "set TELEGRAM_ALLOWED_USERS=<your numeric user id> (message @userinfobot to learn it) in gateway.env, or unset TELEGRAM_BOT_TOKEN",
    };
  }
  const groups = chats.filter((c) => c.startsWith("-"));
  const summary = `${users.length} allowed user(s), ${chats.length} allowed chat(s)`;
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
