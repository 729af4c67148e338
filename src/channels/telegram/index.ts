/** The Telegram channel (grammY long polling). */
export { createTelegramChannel, type TelegramChannelOptions } from "./channel.js";
