/**
 * The Telegram channel: a grammY bot on long polling that turns allowed users' text messages into
 * commands for the daemon, answers /status /new /abort itself, and streams replies back
 * (see replies.ts). Polling is supervised here rather than by `bot.start()`: grammY's built-in
 * loop gives up on 409 Conflict and 401, and sleeps a fixed 3 s on other errors; ours logs, backs
 * off (capped exponential with jitter) and keeps going until stop().
 * Flood control is declared once on the bot's API, for polling and replies alike (flood-control.ts:
 * messages to one chat are paced, 429 flood waits and 5xx are retried; replies, errors, files and
 * notifications on a second API with the same pacing and more tries).
 * Senders on no allowlist and not paired get nothing back, or with pairing a one-time code in a
 * private chat (pairing-gate.ts); nothing of theirs reaches the agent (fail closed). Photos, files
 * in and out: media.ts and files-out.ts.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { APIThrottlerOptions } from "@grammyjs/transformer-throttler";
import { Bot, BotError, GrammyError, HttpError, type Api, type Context } from "grammy";
import type { Update } from "grammy/types";
import { MAX_IMAGE_BASE64, type Channel, type ChannelContext, type DaemonStatus, type InboundImage, type OwnerNotice } from "../../daemon/types.js";
import { QuotaExceededError } from "../../daemon/prompt-quota.js";
import { backoffDelay } from "../../util/backoff.js";
import { silentLogger, type Logger } from "../../util/logger.js";
import { cutCaption, FileSender, CAPTION_MAX } from "./files-out.js";
import { installFloodControl } from "./flood-control.js";
import { describeSavedFile, formatBytes, MediaReceiver } from "./media.js";
import { PairingGate, type PairingOptions } from "./pairing-gate.js";
import { describeError, ReplyStreamer } from "./replies.js";
import { RecentMap, RecentSet } from "./recent.js";

export interface TelegramChannelOptions {
  /** Bot token from @BotFather. */
  token: string;
  /** Bot API root without trailing slash (default https://api.telegram.org); tests point it at a fake. */
  apiRoot?: string;
  /** Telegram user ids allowed to talk to the agent (anywhere the bot is). */
  allowedUserIds?: number[];
  /** Chat ids allowed as a whole (e.g. a private group). */
  allowedChatIds?: number[];
  /** Minimum time between edits of a streamed preview (default 1000 ms). */
  previewIntervalMs?: number;
  /** Typing indicator renewal (default 4000 ms). */
  typingIntervalMs?: number;
  /** Long-poll timeout passed to getUpdates (default 30 s). */
  pollTimeoutSeconds?: number;
  /** First polling retry delay (default 1000 ms), doubled on each consecutive failure... */
  retryBaseMs?: number;
  /** ...up to this (default 60 000 ms). */
  retryMaxMs?: number;
  /** Per-chat and global rate limits of outgoing messages (default: the throttler's, Telegram's documented limits). */
  throttle?: APIThrottlerOptions;
  /** Where received documents, voice and audio are saved (under telegram/<date>/); without it they are refused. */
  filesDir?: string;
  /** Largest photo passed to the model (default 5 MiB). */
  photoMaxBytes?: number;
  /** Largest document / voice / audio saved (default 20 MiB). */
  fileMaxBytes?: number;
  /** Pairing of unknown users (needs the bus); without it strangers get nothing. */
  pairing?: PairingOptions;
  /** Directories a reply's `MEDIA: /path` lines may send files from (the files dir, the daemon's cwd). */
  replyFileDirs?: string[];
}

export const TELEGRAM_COMMANDS = [
  { command: "status", description: "Show what the agent is doing" },
  { command: "new", description: "Start a fresh agent session" },
  { command: "abort", description: "Abort the current turn" },
] as const;

/** grammY types its signals with the abort-controller polyfill's class; Node's native one works at runtime. */
type GrammySignal = NonNullable<Parameters<Api["getMe"]>[0]>;
const grammySignal = (signal: AbortSignal): GrammySignal => signal as unknown as GrammySignal;

/** Giving up on an update whose command can't be queued after this many tries (it is then skipped). */
const MAX_UPDATE_ATTEMPTS = 5;

export function createTelegramChannel(options: TelegramChannelOptions): Channel {
  return new TelegramChannel(options);
}

export class TelegramChannel implements Channel {
  readonly name = "telegram";
  private readonly bot: Bot;
  private readonly replies: ReplyStreamer;
  private readonly allowedUsers: Set<number>;
  private readonly allowedChats: Set<number>;
  private context: ChannelContext | undefined;
  private logger: Logger = silentLogger;
  private running = false;
  private abort = new AbortController();
  private loop: Promise<void> | undefined;
  /** The next update id to ask for (everything before it has been handled). */
  private offset = 0;
  private readonly handled = new RecentSet<number>(2000);
  private readonly attempts = new Map<number, number>();
  /** requestId → the incoming message id, so replies can quote the question. */
  private readonly questions = new RecentMap<string, number>(500);
  private readonly media: MediaReceiver;
  private readonly gate: PairingGate;
  private readonly files: FileSender;

  constructor(private readonly options: TelegramChannelOptions) {
    if (!options.token) throw new Error("telegram: a bot token is required");
    this.allowedUsers = new Set(options.allowedUserIds ?? []);
    this.allowedChats = new Set(options.allowedChatIds ?? []);
    this.bot = new Bot(options.token, { client: options.apiRoot ? { apiRoot: options.apiRoot.replace(/\/+$/, "") } : {} });
    const deliveries = installFloodControl(this.bot.api, options.throttle);
    this.replies = new ReplyStreamer(
      this.bot.api,
      deliveries,
      () => this.logger,
      { previewIntervalMs: options.previewIntervalMs ?? 1000, typingIntervalMs: options.typingIntervalMs ?? 4000 },
      (requestId) => this.questions.get(requestId),
      options.replyFileDirs ?? [],
    );
    const apiRoot = options.apiRoot?.replace(/\/+$/, "") ?? "https://api.telegram.org";
    this.media = new MediaReceiver(this.bot.api, {
      filesDir: options.filesDir ?? "",
      // A queued command's image is at most MAX_IMAGE_BASE64 characters of base64 (3 bytes per 4).
      photoMaxBytes: Math.min(options.photoMaxBytes ?? 5 * 1024 * 1024, (MAX_IMAGE_BASE64 / 4) * 3),
      fileMaxBytes: options.fileMaxBytes ?? 20 * 1024 * 1024,
      fileUrl: (path) => `${apiRoot}/file/bot${options.token}/${path.split("/").map(encodeURIComponent).join("/")}`,
    });
    this.gate = new PairingGate(options.pairing, () => this.logger);
    this.files = new FileSender(deliveries);
    this.installHandlers();
  }

  async start(context: ChannelContext): Promise<void> {
    if (this.running) return;
    this.context = context;
    this.logger = context.logger;
    this.running = true;
    this.abort = new AbortController();
    if (this.allowedUsers.size === 0 && this.allowedChats.size === 0) {
      this.logger.warn(
        {},
        this.options.pairing
          ? "telegram: the allowlist is empty (allowedUserIds / allowedChatIds): only users paired with `pi-gateway pair approve <code>` are let in"
          : "telegram: the allowlist is empty (allowedUserIds / allowedChatIds), so every message will be ignored; add your user id to enable the bot",
      );
    }
    this.loop = this.pollLoop().catch((error: unknown) => {
      // pollLoop catches everything itself; this is a last line of defence, never a crash.
      this.logger.error({ err: describeError(error) }, "telegram: polling loop ended unexpectedly");
    });
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.abort.abort();
    await this.loop;
    this.loop = undefined;
    this.replies.close();
    // Confirm what we handled, so a restart doesn't fetch it again (best effort; the command queue dedups anyway).
    if (this.offset > 0) {
      await this.bot.api.getUpdates({ offset: this.offset, limit: 1, timeout: 0 }, grammySignal(AbortSignal.timeout(2000))).catch(() => undefined);
    }
    this.logger.info({}, "telegram: stopped");
  }

  deliver(to: string, event: Parameters<Channel["deliver"]>[1]): Promise<void> {
    return this.replies.deliver(to, event);
  }

  /** A notification for the owner: its text, and its file as a photo or document (the text as caption when it fits). */
  async deliverNotice(to: string, notice: OwnerNotice): Promise<void> {
    const requestId = `notify:${notice.id}`;
    if (!notice.file) return this.replies.deliver(to, { type: "end", requestId, text: notice.text });
    const chatId = /^-?\d+$/.test(to) ? Number(to) : to;
    const captioned = notice.text.length <= CAPTION_MAX;
    if (!captioned) await this.replies.deliver(to, { type: "end", requestId, text: notice.text });
    try {
      await this.files.send(chatId, notice.file, captioned ? cutCaption(notice.text) : undefined);
    } catch (error) {
      this.logger.warn({ notification: notice.id, file: notice.file, err: describeError(error) }, "telegram: a notification's file was not sent");
      const text = `${captioned ? `${notice.text}\n\n` : ""}⚠️ File not sent: ${notice.file} (${describeError(error)})`;
      await this.replies.deliver(to, { type: "end", requestId, text });
    }
  }

  // ---- polling

  private async pollLoop(): Promise<void> {
    const signal = grammySignal(this.abort.signal);
    const timeout = this.options.pollTimeoutSeconds ?? 30;
    let ready = false;
    let failures = 0;
    while (this.running) {
      try {
        if (!ready) {
          this.bot.botInfo = await this.bot.api.getMe(signal);
          await this.bot.api.deleteWebhook({ drop_pending_updates: false }, signal);
          ready = true;
          this.logger.info({ bot: this.bot.botInfo.username, users: this.allowedUsers.size, chats: this.allowedChats.size }, "telegram: polling");
          void this.bot.api.setMyCommands(TELEGRAM_COMMANDS, undefined, signal).catch((error: unknown) => {
            this.logger.debug({ err: describeError(error) }, "telegram: setMyCommands failed");
          });
        }
        const updates = await this.bot.api.getUpdates({ offset: this.offset, timeout, allowed_updates: ["message"] }, signal);
        if (failures > 0) this.logger.info({ after: failures }, "telegram: polling recovered");
        failures = 0;
        for (const update of updates) {
          if (!this.running) break; // not confirmed: fetched again next time
          await this.handleUpdate(update);
          this.offset = update.update_id + 1;
        }
      } catch (error) {
        if (!this.running) break;
        failures++;
        const delay = this.retryDelay(failures);
        this.logPollingError(error, failures, delay);
        if (error instanceof GrammyError && (error.error_code === 401 || (error.error_code === 409 && /webhook/i.test(error.description)))) ready = false;
        // stop() cuts the wait short (the rejection it causes is the signal to leave the loop).
        await sleep(delay, undefined, { signal: this.abort.signal }).catch(() => undefined);
      }
    }
  }

  private retryDelay(failures: number): number {
    return backoffDelay(failures, { baseMs: this.options.retryBaseMs ?? 1000, capMs: this.options.retryMaxMs ?? 60_000, jitter: 0.2 });
  }

  private logPollingError(error: unknown, failures: number, delayMs: number): void {
    const fields = { err: describeError(error), failures, retryInMs: delayMs };
    if (error instanceof GrammyError && error.error_code === 409) {
      this.logger.warn(fields, "telegram: getUpdates conflict (another bot instance polling with this token, or a webhook is set); backing off");
    } else if (error instanceof GrammyError && error.error_code === 401) {
      this.logger.error(fields, "telegram: the bot token was rejected (401); check it with @BotFather");
    } else if (error instanceof HttpError || error instanceof GrammyError) {
      this.logger.warn(fields, "telegram: polling failed; retrying");
    } else {
      this.logger.error(fields, "telegram: update handling failed; retrying");
    }
  }

  /** Runs one update through the middleware; throws (so it is retried) only if it couldn't be queued. */
  private async handleUpdate(update: Update): Promise<void> {
    try {
      await this.bot.handleUpdate(update);
      this.attempts.delete(update.update_id);
    } catch (error) {
      const cause = error instanceof BotError ? error.error : error;
      const attempts = (this.attempts.get(update.update_id) ?? 0) + 1;
      if (attempts < MAX_UPDATE_ATTEMPTS) {
        this.attempts.set(update.update_id, attempts);
        throw cause;
      }
      this.attempts.delete(update.update_id);
      this.logger.error({ updateId: update.update_id, err: describeError(cause) }, "telegram: giving up on a message that could not be queued");
      const chatId = update.message?.chat.id;
      if (chatId !== undefined) {
        await this.bot.api.sendMessage(chatId, `⚠️ Your message could not be queued (${describeError(cause)}). Please send it again.`).catch(() => undefined);
      }
    }
  }

  // ---- inbound

  private isAllowed(chatId: number | undefined, userId: number | undefined): boolean {
    return (userId !== undefined && this.allowedUsers.has(userId)) || (chatId !== undefined && this.allowedChats.has(chatId));
  }

  private installHandlers(): void {
    const bot = this.bot;
    bot.use(async (ctx, next) => {
      const chatId = ctx.chat?.id;
      const userId = ctx.from?.id;
      // Not on an allowlist nor paired: a pairing code at most, nothing reaches the agent.
      if (!this.isAllowed(chatId, userId) && !(await this.gate.isApproved(userId)) && (await this.gate.unknownSender(ctx)) === "blocked") return;
      if (this.handled.has(ctx.update.update_id)) {
        this.logger.debug({ updateId: ctx.update.update_id }, "telegram: duplicate update ignored");
        return;
      }
      await next();
      this.handled.add(ctx.update.update_id);
    });
    bot.command("status", (ctx) => this.answer(ctx, "status", async (control) => formatStatus(await control.status())));
    bot.command("new", (ctx) =>
      this.answer(ctx, "new", async (control) => {
        await control.newSession();
        return "🆕 Started a new session.";
      }),
    );
    bot.command("abort", (ctx) =>
      this.answer(ctx, "abort", async (control) => {
        await control.abort();
        return "⏹ Aborted the current turn.";
      }),
    );
    bot.command(["start", "help"], (ctx) =>
      this.answer(
        ctx,
        "help",
        async () => "Send me a message and the agent will answer.\n/status shows what it is doing\n/new starts a fresh session\n/abort stops the current turn",
      ),
    );
    bot.on("message:text", (ctx) => this.submit(ctx, ctx.msg.text, ctx.msg.message_id));
    bot.on(["message:photo", "message:document", "message:voice", "message:audio", "message:video", "message:video_note"], (ctx) => this.submitMedia(ctx));
    bot.on("message", (ctx) => this.answer(ctx, "unsupported", async () => "Only text, photos, documents, voice messages, audio and video are supported."));
  }

  /** A photo goes to the model as an image; a file is saved and its path given; too large is refused to the sender. */
  private async submitMedia(ctx: Context): Promise<void> {
    const message = ctx.msg;
    if (!message || !ctx.chat) return;
    const document = message.document ?? message.audio ?? message.voice ?? message.video ?? message.video_note;
    if (document && !this.options.filesDir) {
      this.logger.warn({ chatId: ctx.chat.id, updateId: ctx.update.update_id }, "telegram: a file was refused: no files directory is configured");
      return this.answer(ctx, "file", async () => "⚠️ Not received: this gateway has no files directory to save files in.");
    }
    const result = await this.media.receive(message);
    const caption = message.caption?.trim() ?? "";
    if (!result || result.kind === "refused") {
      const reason = result?.reason ?? "nothing to receive";
      this.logger.warn({ chatId: ctx.chat.id, updateId: ctx.update.update_id, reason }, "telegram: media refused");
      return this.answer(ctx, "file", async () => `⚠️ Not received: ${reason}. Nothing was passed to the agent.`);
    }
    if (result.kind === "photo") {
      this.logger.info({ chatId: ctx.chat.id, bytes: result.size, type: result.image.mimeType }, "telegram: photo received");
      return this.submit(ctx, caption || "(The user sent a photo without a caption.)", message.message_id, [result.image]);
    }
    this.logger.info({ chatId: ctx.chat.id, path: result.file.path, size: formatBytes(result.file.size) }, "telegram: file saved");
    return this.submit(ctx, [caption, describeSavedFile(result.file)].filter(Boolean).join("\n\n"), message.message_id);
  }

  private async submit(ctx: Context, text: string, messageId: number, images?: InboundImage[]): Promise<void> {
    const commands = this.context?.commands;
    const chat = ctx.chat;
    if (!commands || !chat) return;
    const id = `telegram:${ctx.update.update_id}`;
    const from = ctx.from?.username ?? ctx.from?.first_name ?? "unknown";
    this.questions.set(id, messageId);
    // Errors propagate: the update is not confirmed and is retried (see handleUpdate). A refusal
    // (too many prompts waiting) is final: the sender is told, and retrying would only repeat it.
    const result = await commands
      .submit({
        id,
        channel: "telegram",
        text,
        priority: "human",
        replyTo: { channel: "telegram", to: String(chat.id) },
        meta: { from },
        ...(images ? { images } : {}),
      })
      .catch(async (error: unknown) => {
        if (!(error instanceof QuotaExceededError)) throw error;
        this.logger.warn({ id, chatId: chat.id, err: error.message }, "telegram: prompt refused");
        await ctx.reply(`⚠️ Not queued: ${error.message}`).catch(() => undefined);
        return undefined;
      });
    if (result) this.logger.debug({ id, chatId: chat.id, status: result.status }, "telegram: message submitted");
  }

  /** Answers a command directly (not through the queue). */
  private async answer(ctx: Context, what: string, produce: (control: ChannelContext["control"]) => Promise<string>): Promise<void> {
    const control = this.context?.control;
    if (!control || !ctx.chat) return;
    let text: string;
    try {
      text = await produce(control);
    } catch (error) {
      this.logger.warn({ command: what, err: describeError(error) }, "telegram: command failed");
      text = `⚠️ /${what} failed: ${describeError(error)}`;
    }
    try {
      await ctx.api.sendMessage(ctx.chat.id, text);
    } catch (error) {
      this.logger.warn({ command: what, chatId: ctx.chat.id, err: describeError(error) }, "telegram: could not answer a command");
    }
  }
}

/** A short, plain-text rendering of the daemon status for /status. */
export function formatStatus(status: DaemonStatus, now = Date.now()): string {
  const lines: string[] = [];
  if (status.modelProblem) lines.push(`⚠️ ${status.modelProblem}`);
  if (status.current) {
    lines.push(`⏳ ${status.state}: ${status.current.requestId} (${status.current.channel}) for ${formatAge(now - status.current.startedAt)}`);
  } else {
    lines.push(`${status.state === "idle" ? "🟢" : "⚪"} ${status.state}`);
  }
  lines.push(`Queue: ${status.queue.human} human · ${status.queue.event} event · ${status.queue.heartbeat} heartbeat`);
  const heartbeat = status.lastHeartbeat === null ? "never" : `${formatAge(now - status.lastHeartbeat)} ago`;
  lines.push(`Processed: ${status.processed} · last heartbeat: ${heartbeat}`);
  if (status.sessionFile) lines.push(`Session: ${status.sessionFile}`);
  if (status.watchdog) lines.push(`Watchdog: ${status.watchdog}`);
  return lines.join("\n");
}

function formatAge(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  return `${hours}h${String(minutes % 60).padStart(2, "0")}m`;
}
