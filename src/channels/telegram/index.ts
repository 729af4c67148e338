/** The Telegram channel (grammY long polling) and its Markdown → Telegram HTML helpers. */
export { createTelegramChannel, formatStatus, TelegramChannel, TELEGRAM_COMMANDS, type TelegramChannelOptions } from "./channel.js";
export { chunkMessage, escapeHtml, markdownToTelegramHtml, TELEGRAM_MESSAGE_LIMIT } from "./format.js";
export { renderReply, type ReplyChunk } from "./replies.js";
