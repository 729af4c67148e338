/**
 * Streams one command's reply events into a Telegram chat: a typing indicator while the agent
 * works, a live preview message edited as deltas arrive (throttled), and on "end" the final text
 * as formatted HTML chunks (the preview is replaced by the first one). The first preview waits one
 * preview interval after the first text: a reply done by then goes out as its final text alone.
 * State is kept per request (requestId + chat), never as a global "current chat"; each request's
 * API calls run in order.
 * Flood waits (429) and Telegram's 5xx are retried by the API itself (flood-control.ts): typing
 * and previews on the bot's API, what the user must get (the final text, errors, files) on the
 * deliveries API, which tries longer.
 */
import { GrammyError, type Api } from "grammy";
import { isHeartbeatAck } from "../../host/heartbeat.js";
import type { ReplyEvent } from "../../daemon/types.js";
import type { Logger } from "../../util/logger.js";
import { checkReplyFile, extractMediaLines, FileSender, REPLY_FILES_MAX } from "./files-out.js";
import { chunkMessage, markdownToTelegramHtml, TELEGRAM_MESSAGE_LIMIT } from "./format.js";

export interface ReplyStreamerOptions {
  /** Minimum time between two edits of a live preview. */
  previewIntervalMs: number;
  /** How often the typing indicator is renewed (Telegram shows it for ~5 s). */
  typingIntervalMs: number;
  /** A request that sends nothing for this long stops its typing indicator (a lost "end"). */
  staleAfterMs?: number;
}

interface RequestState {
  key: string;
  requestId: string;
  chatId: number | string;
  /** The deltas so far (the agent's raw Markdown). */
  text: string;
  preview?: { messageId: number; text: string };
  /** A preview has been queued (a text too long to preview is then not rescheduled: the last preview stays). */
  previewStarted: boolean;
  /**
   * A preview update waits in the request's chain (or a typing action is in flight): no second one
   * is added. Calls to a chat are throttled, so piling them up would only delay the final text.
   */
  previewQueued: boolean;
  typingInFlight: boolean;
  /** When the last preview was queued, or the first text arrived (0: no previewable text yet). */
  lastPreviewAt: number;
  previewTimer?: NodeJS.Timeout;
  /** Previews paused until this time after a flood wait too long for auto-retry to wait out inside the call. */
  previewPausedUntil: number;
  typingTimer?: NodeJS.Timeout;
  lastEventAt: number;
  finished: boolean;
  /** API calls of this request, one after another. */
  chain: Promise<void>;
}

/** One final-text chunk: HTML to send, and the Markdown it came from (the plain-text fallback). */
export interface ReplyChunk {
  html: string;
  markdown: string;
}

/** Splits a final reply into sendable chunks (each < 4096 characters, fences kept intact). */
export function renderReply(markdown: string, limit = TELEGRAM_MESSAGE_LIMIT): ReplyChunk[] {
  return chunkMessage(markdown, limit)
    .filter((chunk) => chunk.trim() !== "")
    .map((chunk) => ({ markdown: chunk, html: markdownToTelegramHtml(chunk) }));
}

/** True while a streamed text could still turn out to be a heartbeat acknowledgement. */
export function mightBecomeHeartbeatAck(text: string): boolean {
  const trimmed = text.trim();
  if (!trimmed || isHeartbeatAck(trimmed)) return true;
  return "HEARTBEAT_OK".startsWith(trimmed.replace(/^[*_`~\s]+/, ""));
}

function toChatId(to: string): number | string {
  return /^-?\d+$/.test(to) ? Number(to) : to;
}

export function describeError(error: unknown): string {
  if (error instanceof GrammyError) return `${error.error_code}: ${error.description}`;
  if (error instanceof Error) return error.message;
  return String(error);
}

function isParseError(error: unknown): boolean {
  return error instanceof GrammyError && error.error_code === 400 && /can't parse entities/i.test(error.description);
}

function isNotModified(error: unknown): boolean {
  return error instanceof GrammyError && error.error_code === 400 && /message is not modified/i.test(error.description);
}

export class ReplyStreamer {
  private readonly states = new Map<string, RequestState>();

  constructor(
    /** Typing and previews: a failure is superseded by the next call. */
    private readonly api: Api,
    /** The final text, errors and files: the same pacing, a longer retry budget. */
    private readonly deliveries: Api,
    private readonly logger: () => Logger,
    private readonly options: ReplyStreamerOptions,
    /** The incoming message a request answers (replies quote it), if known. */
    private readonly replyTarget: (requestId: string) => number | undefined = () => undefined,
    /** Directories a reply's `MEDIA:` lines may send files from (none: every such file is refused, and said so). */
    private readonly fileDirs: string[] = [],
  ) {
    this.fileSender = new FileSender(deliveries);
  }

  private readonly fileSender: FileSender;

  async deliver(to: string, event: ReplyEvent): Promise<void> {
    try {
      switch (event.type) {
        case "start": {
          const state = this.state(to, event.requestId);
          this.startTyping(state);
          return;
        }
        case "tool":
          this.state(to, event.requestId);
          return;
        case "delta": {
          const state = this.state(to, event.requestId);
          state.text += event.text;
          this.schedulePreview(state);
          return;
        }
        case "end":
          await this.finish(this.state(to, event.requestId), event.text);
          return;
        case "error":
          await this.fail(this.state(to, event.requestId), event.message);
          return;
      }
    } catch (error) {
      this.logger().warn({ to, requestId: event.requestId, event: event.type, err: describeError(error) }, "telegram: reply delivery failed");
    }
  }

  /** Requests being answered right now (for tests and status). */
  get active(): number {
    return this.states.size;
  }

  /** Stops every timer (the channel is stopping); pending API calls finish on their own. */
  close(): void {
    for (const state of this.states.values()) this.stopTimers(state);
    this.states.clear();
  }

  private state(to: string, requestId: string): RequestState {
    const key = `${to}\u0000${requestId}`;
    let state = this.states.get(key);
    if (!state) {
      state = {
        key,
        requestId,
        chatId: toChatId(to),
        text: "",
        previewStarted: false,
        previewQueued: false,
        typingInFlight: false,
        lastPreviewAt: 0,
        previewPausedUntil: 0,
        lastEventAt: Date.now(),
        finished: false,
        chain: Promise.resolve(),
      };
      this.states.set(key, state);
    }
    state.lastEventAt = Date.now();
    return state;
  }

  /** Runs `task` after the request's previous API calls; never rejects. */
  private enqueue(state: RequestState, what: string, task: () => Promise<void>): Promise<void> {
    state.chain = state.chain.then(task).catch((error: unknown) => {
      this.logger().warn({ chatId: state.chatId, requestId: state.requestId, what, err: describeError(error) }, "telegram: send failed");
    });
    return state.chain;
  }

  // ---- typing indicator

  private startTyping(state: RequestState): void {
    if (state.typingTimer || state.finished) return;
    const staleAfter = this.options.staleAfterMs ?? 15 * 60_000;
    const tick = (): void => {
      if (state.finished || Date.now() - state.lastEventAt > staleAfter) {
        this.stopTimers(state);
        if (!state.finished) this.states.delete(state.key); // its "end" was lost: forget it
        return;
      }
      if (state.typingInFlight) return;
      state.typingInFlight = true;
      this.api
        .sendChatAction(state.chatId, "typing")
        .catch((error: unknown) => {
          this.logger().debug({ chatId: state.chatId, err: describeError(error) }, "telegram: typing indicator failed");
        })
        .finally(() => (state.typingInFlight = false));
    };
    tick();
    state.typingTimer = setInterval(tick, this.options.typingIntervalMs);
    state.typingTimer.unref();
  }

  private stopTimers(state: RequestState): void {
    if (state.typingTimer) clearInterval(state.typingTimer);
    if (state.previewTimer) clearTimeout(state.previewTimer);
    state.typingTimer = undefined;
    state.previewTimer = undefined;
  }

  // ---- live preview

  private schedulePreview(state: RequestState): void {
    if (state.finished || state.previewTimer) return;
    // Never flash a heartbeat acknowledgement (or the start of one) at the user.
    if (mightBecomeHeartbeatAck(state.text)) return;
    if (state.text.length >= TELEGRAM_MESSAGE_LIMIT && state.previewStarted) return;
    const now = Date.now();
    // The first preview waits an interval too. Sent at once, a reply that ends a moment later was
    // a preview plus an edit: two messages to the chat, the edit paced a second behind the preview.
    if (state.lastPreviewAt === 0) state.lastPreviewAt = now;
    const due = Math.max(state.lastPreviewAt + this.options.previewIntervalMs, state.previewPausedUntil);
    if (now >= due) return this.queuePreview(state);
    state.previewTimer = setTimeout(() => {
      state.previewTimer = undefined;
      if (!state.finished) this.queuePreview(state);
    }, due - now);
    state.previewTimer.unref();
  }

  /** One queued preview at a time: when its turn comes it sends the newest text anyway. */
  private queuePreview(state: RequestState): void {
    state.previewStarted = true;
    state.lastPreviewAt = Date.now();
    if (state.previewQueued) return;
    state.previewQueued = true;
    void this.enqueue(state, "preview", () => {
      state.previewQueued = false;
      return this.updatePreview(state);
    });
  }

  private async updatePreview(state: RequestState): Promise<void> {
    if (state.finished) return;
    let text = state.text;
    if (text.length >= TELEGRAM_MESSAGE_LIMIT) {
      if (state.preview) return; // too long to preview: keep the last one until the end
      text = `${text.slice(0, TELEGRAM_MESSAGE_LIMIT - 2)}…`;
    }
    if (!text.trim() || text === state.preview?.text) return;
    try {
      if (!state.preview) {
        const message = await this.api.sendMessage(state.chatId, text, this.replyOptions(state.requestId));
        state.preview = { messageId: message.message_id, text };
      } else {
        await this.api.editMessageText(state.chatId, state.preview.messageId, text);
        state.preview.text = text;
      }
    } catch (error) {
      if (error instanceof GrammyError && error.error_code === 429) {
        state.previewPausedUntil = Date.now() + (error.parameters.retry_after ?? 1) * 1000;
      }
      if (!isNotModified(error)) this.logger().debug({ chatId: state.chatId, err: describeError(error) }, "telegram: preview update failed");
    }
  }

  // ---- final text

  private async finish(state: RequestState, text: string): Promise<void> {
    state.finished = true;
    this.stopTimers(state);
    this.states.delete(state.key);
    // A heartbeat acknowledgement (or an empty reply) sends nothing and deletes nothing.
    if (!text.trim() || isHeartbeatAck(text)) {
      await state.chain;
      return;
    }
    const { text: body, files } = extractMediaLines(text);
    const chunks = renderReply(body);
    await this.enqueue(state, "final", async () => {
      let index = 0;
      if (state.preview && chunks[0]) {
        if (await this.replacePreview(state, state.preview.messageId, chunks[0])) index = 1;
      }
      for (; index < chunks.length; index++) {
        const chunk = chunks[index];
        if (chunk) await this.sendChunk(state, chunk, index === 0 && !state.preview);
      }
      await this.sendReplyFiles(state, files);
    });
  }

  /** The files a reply names (`MEDIA: /path`), each sent or named with the reason it was not. */
  private async sendReplyFiles(state: RequestState, paths: string[]): Promise<void> {
    for (const [index, path] of paths.entries()) {
      let problem: string | undefined;
      if (index >= REPLY_FILES_MAX) problem = `a reply sends at most ${REPLY_FILES_MAX} files`;
      else {
        try {
          await this.fileSender.send(state.chatId, await checkReplyFile(path, this.fileDirs));
        } catch (error) {
          problem = describeError(error);
        }
      }
      if (problem === undefined) continue;
      this.logger().warn({ chatId: state.chatId, requestId: state.requestId, path, err: problem }, "telegram: a file named in a reply was not sent");
      await this.deliveries.sendMessage(state.chatId, `⚠️ File not sent: ${path} (${problem})`);
    }
  }

  private async fail(state: RequestState, message: string): Promise<void> {
    state.finished = true;
    this.stopTimers(state);
    this.states.delete(state.key);
    const short = message.length > 500 ? `${message.slice(0, 500)}…` : message;
    await this.enqueue(state, "error", async () => {
      await this.deliveries.sendMessage(state.chatId, `⚠️ Error: ${short}`, this.replyOptions(state.requestId));
    });
  }

  /** Edits the preview into the first final chunk; false when the preview can't be edited. */
  private async replacePreview(state: RequestState, messageId: number, chunk: ReplyChunk): Promise<boolean> {
    try {
      await this.deliveries.editMessageText(state.chatId, messageId, chunk.html, { parse_mode: "HTML" });
      return true;
    } catch (error) {
      if (isNotModified(error)) return true;
      let failure = error;
      if (isParseError(error)) {
        this.logger().warn({ chatId: state.chatId, err: describeError(error) }, "telegram: formatted reply rejected; sending it as plain text");
        try {
          await this.deliveries.editMessageText(state.chatId, messageId, chunk.markdown);
          return true;
        } catch (plainError) {
          if (isNotModified(plainError)) return true;
          failure = plainError;
        }
      }
      this.logger().debug({ chatId: state.chatId, err: describeError(failure) }, "telegram: preview not editable; sending the reply as new messages");
      return false;
    }
  }

  private async sendChunk(state: RequestState, chunk: ReplyChunk, quote: boolean): Promise<void> {
    const reply = quote ? this.replyOptions(state.requestId) : {};
    try {
      await this.deliveries.sendMessage(state.chatId, chunk.html, { ...reply, parse_mode: "HTML" });
    } catch (error) {
      if (!isParseError(error)) throw error;
      this.logger().warn({ chatId: state.chatId, err: describeError(error) }, "telegram: formatted reply rejected; sending it as plain text");
      await this.deliveries.sendMessage(state.chatId, chunk.markdown, reply);
    }
  }

  private replyOptions(requestId: string): { reply_parameters?: { message_id: number; allow_sending_without_reply: boolean } } {
    const messageId = this.replyTarget(requestId);
    return messageId === undefined ? {} : { reply_parameters: { message_id: messageId, allow_sending_without_reply: true } };
  }
}
