// A fake Telegram Bot API server, faithful enough for grammY, for testing the Telegram channel.
//
// Serves `POST|GET /bot<token>/<method>` on 127.0.0.1 (free port) with JSON, urlencoded or query
// parameters and answers `{ ok: true, result }` / `{ ok: false, error_code, description,
// parameters? }` like the real thing. getUpdates is a real long poll (offset confirms and drops
// older updates, timeout holds the request until an update arrives, limit, allowed_updates) and a
// second concurrent getUpdates gets 409 Conflict. sendMessage / editMessageText validate length
// (after entity parsing) and, with parse_mode HTML, the markup (allowed tags, balance, Telegram's
// nesting rules) with Telegram's error texts. Faults can be injected per method with failNext.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { isDeepStrictEqual } from "node:util";

export const FAKE_BOT_USER = {
  id: 777000111,
  is_bot: true,
  first_name: "Fake Bot",
  username: "fake_gateway_bot",
  can_join_groups: true,
  can_read_all_group_messages: false,
  supports_inline_queries: false,
};

export interface ApiCall {
  method: string;
  params: Record<string, unknown>;
  /** Date.now() when the request arrived. */
  time: number;
  /** Filled in when answered: true for ok, else the error code. */
  outcome?: true | number;
}

export interface Fault {
  error_code: number;
  description?: string;
  /** For 429: sent as parameters.retry_after (seconds). */
  retry_after?: number;
}

export interface MessageEntity {
  type: string;
  offset: number;
  length: number;
  url?: string;
  language?: string;
}

export interface StoredMessage {
  message_id: number;
  chatId: number;
  fromBot: boolean;
  /** The text as the user sees it (after entity parsing). */
  text: string;
  entities: MessageEntity[];
  /** The text exactly as sent (e.g. the HTML) and its parse mode. */
  raw: string;
  parseMode?: string;
  date: number;
  edits: number;
}

export interface InjectMessageOptions {
  chatId: number;
  userId: number;
  text: string;
  username?: string;
  firstName?: string;
}

export interface InjectMediaOptions {
  chatId: number;
  userId: number;
  kind: "photo" | "document" | "voice" | "audio";
  bytes: Uint8Array;
  caption?: string;
  fileName?: string;
  mimeType?: string;
  /** The file_size the update and getFile claim (default: the real size); a lie tests the download's own cap. */
  declaredSize?: number;
  username?: string;
}

/** A file the bot sent (sendPhoto / sendDocument). */
export interface Upload {
  method: string;
  chatId: number;
  fileName: string;
  bytes: Buffer;
  caption?: string;
}

export interface FakeTelegramOptions {
  token?: string;
  /** What a second concurrent getUpdates does: get 409 itself (default), or end the older one with 409 (as Telegram does). */
  conflict?: "reject-new" | "terminate-old";
}

type Reply = { status: number; body: unknown } | "aborted";
type Params = Record<string, unknown>;

class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly description: string,
    readonly retryAfter?: number,
  ) {
    super(description);
  }
}

const DEFAULT_ALLOWED = [
  "message",
  "edited_message",
  "channel_post",
  "edited_channel_post",
  "inline_query",
  "chosen_inline_result",
  "callback_query",
  "shipping_query",
  "pre_checkout_query",
  "poll",
  "poll_answer",
  "my_chat_member",
  "chat_join_request",
];
const CONFLICT_POLL = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running";
const DEFAULT_DESCRIPTIONS: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden: bot was blocked by the user",
  409: CONFLICT_POLL,
  429: "Too Many Requests: retry after 1",
  500: "Internal Server Error",
  502: "Bad Gateway",
};

interface Poller {
  /** Answers if updates are available (or, with `force`, with whatever there is). */
  wake(force?: boolean): void;
  terminate(): void;
}

export class FakeTelegram {
  readonly token: string;
  private readonly holds: Array<{ match: (call: ApiCall) => boolean; held: Array<() => void> }> = [];
  /** Every API call received, in order (including failed ones). */
  readonly sent: ApiCall[] = [];
  readonly commands: unknown[] = [];
  private server!: Server;
  private port = 0;
  private readonly updates: Array<Record<string, unknown> & { update_id: number }> = [];
  private nextUpdateId = 500_000_001;
  private allowedUpdates: string[] = DEFAULT_ALLOWED;
  private poller: Poller | undefined;
  private readonly faults = new Map<string, Fault[]>();
  private readonly chats = new Map<number, StoredMessage[]>();
  private readonly nextMessageId = new Map<number, number>();
  private webhookUrl = "";
  private readonly conflict: "reject-new" | "terminate-old";
  private readonly files = new Map<string, { path: string; bytes: Uint8Array; declaredSize: number }>();
  /** Files the bot sent, in order. */
  readonly uploads: Upload[] = [];
  /** Requests for file downloads (/file/bot<token>/<path>). */
  readonly downloads: string[] = [];

  constructor(options: FakeTelegramOptions = {}) {
    this.token = options.token ?? "123456:TEST-token_abcdefghijklmnopqrstuvwxyz";
    this.conflict = options.conflict ?? "reject-new";
  }

  /** The apiRoot to give grammY (no trailing slash). */
  get apiRoot(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** True while a getUpdates long poll is being held open. */
  get polling(): boolean {
    return this.poller !== undefined;
  }

  async listen(): Promise<this> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ ok: false, error_code: 500, description: `Internal Server Error: fake crashed: ${String(error)}` }));
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    this.poller?.wake(true);
    this.poller = undefined;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- test helpers

  /** Queues a text message update from a user (with a bot_command entity for /commands); returns its update_id. */
  injectMessage(options: InjectMessageOptions): number {
    const messageId = this.allocateMessageId(options.chatId);
    const date = Math.floor(Date.now() / 1000);
    const from = {
      id: options.userId,
      is_bot: false,
      first_name: options.firstName ?? `User${options.userId}`,
      ...(options.username ? { username: options.username } : {}),
    };
    const chat =
      options.chatId > 0
        ? { id: options.chatId, type: "private", first_name: from.first_name }
        : { id: options.chatId, type: "supergroup", title: `Group ${options.chatId}` };
    const command = /^\/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?/.exec(options.text);
    const entities = command ? [{ type: "bot_command", offset: 0, length: command[0].length }] : undefined;
    this.store({
      message_id: messageId,
      chatId: options.chatId,
      fromBot: false,
      text: options.text,
      entities: entities ?? [],
      raw: options.text,
      date,
      edits: 0,
    });
    return this.injectUpdate({ message: { message_id: messageId, from, chat, date, text: options.text, ...(entities ? { entities } : {}) } });
  }

  /** Queues a photo / document / voice / audio message whose file the bot can getFile and download; returns its update_id. */
  injectMedia(options: InjectMediaOptions): number {
    const messageId = this.allocateMessageId(options.chatId);
    const date = Math.floor(Date.now() / 1000);
    const fileId = `file-${this.files.size + 1}-${options.kind}`;
    const size = options.declaredSize ?? options.bytes.length;
    const ext = options.kind === "photo" ? ".jpg" : options.kind === "voice" ? ".oga" : "";
    this.files.set(fileId, { path: `${options.kind}s/file_${this.files.size + 1}${ext}`, bytes: options.bytes, declaredSize: size });
    const ref = { file_id: fileId, file_unique_id: `u${fileId}`, file_size: size };
    const media =
      options.kind === "photo"
        ? { photo: [{ ...ref, width: 800, height: 600 }] }
        : {
            [options.kind]: {
              ...ref,
              ...(options.fileName !== undefined ? { file_name: options.fileName } : {}),
              ...(options.mimeType ? { mime_type: options.mimeType } : {}),
              ...(options.kind === "document" ? {} : { duration: 3 }),
            },
          };
    const from = { id: options.userId, is_bot: false, first_name: `User${options.userId}`, ...(options.username ? { username: options.username } : {}) };
    const chat = { id: options.chatId, type: "private", first_name: from.first_name };
    this.store({ message_id: messageId, chatId: options.chatId, fromBot: false, text: options.caption ?? "", entities: [], raw: "", date, edits: 0 });
    return this.injectUpdate({ message: { message_id: messageId, from, chat, date, ...media, ...(options.caption ? { caption: options.caption } : {}) } });
  }

  /** Queues any update (its update_id is assigned here) and wakes a waiting long poll. */
  injectUpdate(update: Record<string, unknown>): number {
    const id = this.nextUpdateId++;
    this.updates.push({ ...update, update_id: id });
    this.poller?.wake();
    return id;
  }

  /** Lets the bot talk to a chat nobody has written from yet (else "chat not found"). */
  addChat(chatId: number): void {
    if (!this.chats.has(chatId)) this.chats.set(chatId, []);
  }

  /** Current text (as displayed) of the bot's messages in a chat, oldest first. */
  messagesIn(chatId: number | string): string[] {
    return this.chatMessages(chatId)
      .filter((message) => message.fromBot)
      .map((message) => message.text);
  }

  /** All messages (user's and bot's) currently in a chat, oldest first. */
  chatMessages(chatId: number | string): StoredMessage[] {
    return [...(this.chats.get(Number(chatId)) ?? [])];
  }

  /** Calls of one method, optionally only those addressed to one chat. */
  calls(method: string, chatId?: number | string): ApiCall[] {
    return this.sent.filter((call) => call.method === method && (chatId === undefined || String(call.params.chat_id) === String(chatId)));
  }

  /** Every call addressed to a chat (any method with that chat_id). */
  callsTo(chatId: number | string): ApiCall[] {
    return this.sent.filter((call) => call.params.chat_id !== undefined && String(call.params.chat_id) === String(chatId));
  }

  /** The next `times` calls of `method` fail with this error. */
  failNext(method: string, fault: Fault, times = 1): void {
    const queue = this.faults.get(method) ?? [];
    for (let i = 0; i < times; i++) queue.push(fault);
    this.faults.set(method, queue);
  }

  /**
   * Calls matching `match` are carried out (the chat shows their effect) but their answers are
   * withheld until the returned release() runs: "the message was sent, the sender does not know yet".
   */
  holdAnswers(match: (call: ApiCall) => boolean): () => void {
    const held: Array<() => void> = [];
    const hold = { match, held };
    this.holds.push(hold);
    return () => {
      this.holds.splice(this.holds.indexOf(hold), 1);
      for (const answer of held.splice(0)) answer();
    };
  }

  /** Updates not yet confirmed by an offset. */
  get pendingUpdates(): number {
    return this.updates.length;
  }

  // ---- HTTP

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let reply: Reply;
    let call: ApiCall | undefined;
    try {
      const url = new URL(req.url ?? "/", "http://fake");
      if (url.pathname.startsWith("/file/")) return this.serveFile(url.pathname, res);
      const match = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(url.pathname);
      if (!match) throw new ApiError(404, "Not Found");
      const params = { ...Object.fromEntries([...url.searchParams].map(([key, value]) => [key, coerce(value)])), ...(await readParams(req)) };
      call = { method: match[2] ?? "", params, time: Date.now() };
      this.sent.push(call);
      if (match[1] !== this.token) throw new ApiError(401, "Unauthorized");
      const fault = this.faults.get(call.method)?.shift();
      if (fault) throw new ApiError(fault.error_code, fault.description ?? DEFAULT_DESCRIPTIONS[fault.error_code] ?? "Error", fault.retry_after);
      reply = await this.dispatch(call.method, params, res);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      const body: Record<string, unknown> = { ok: false, error_code: error.code, description: error.description };
      if (error.retryAfter !== undefined) body.parameters = { retry_after: error.retryAfter };
      reply = { status: error.code, body };
    }
    if (reply === "aborted") return;
    const hold = call && reply.status === 200 ? this.holds.find((h) => h.match(call!)) : undefined;
    if (hold) await new Promise<void>((release) => hold.held.push(release));
    if (call) call.outcome = reply.status === 200 ? true : reply.status;
    if (res.writableEnded || res.destroyed) return;
    res.writeHead(reply.status, { "content-type": "application/json" });
    res.end(JSON.stringify(reply.body));
  }

  private async dispatch(method: string, params: Params, res: ServerResponse): Promise<Reply> {
    const ok = (result: unknown): Reply => ({ status: 200, body: { ok: true, result } });
    switch (method) {
      case "getMe":
        return ok(FAKE_BOT_USER);
      case "deleteWebhook":
        this.webhookUrl = "";
        if (params.drop_pending_updates === true) this.updates.length = 0;
        return ok(true);
      case "setWebhook":
        this.webhookUrl = String(params.url ?? "");
        return ok(true);
      case "getWebhookInfo":
        return ok({ url: this.webhookUrl, has_custom_certificate: false, pending_update_count: this.updates.length });
      case "getUpdates":
        return this.getUpdates(params, res);
      case "sendMessage":
        return ok(this.sendMessage(params));
      case "getFile": {
        const file = this.files.get(String(params.file_id ?? ""));
        if (!file) throw new ApiError(400, "Bad Request: invalid file_id");
        if (file.declaredSize > 20 * 1024 * 1024) throw new ApiError(400, "Bad Request: file is too big");
        return ok({ file_id: params.file_id, file_unique_id: `u${String(params.file_id)}`, file_size: file.declaredSize, file_path: file.path });
      }
      case "sendPhoto":
      case "sendDocument":
        return ok(this.upload(method, params));
      case "editMessageText":
        return ok(this.editMessageText(params));
      case "sendChatAction":
        this.chatOf(params);
        if (typeof params.action !== "string" || !params.action) throw new ApiError(400, "Bad Request: action is empty");
        return ok(true);
      case "deleteMessage": {
        const messages = this.chats.get(this.chatOf(params)) ?? [];
        const index = messages.findIndex((message) => message.message_id === Number(params.message_id));
        if (index === -1) throw new ApiError(400, "Bad Request: message to delete not found");
        messages.splice(index, 1);
        return ok(true);
      }
      case "setMyCommands":
        this.commands.splice(0, this.commands.length, ...(Array.isArray(params.commands) ? params.commands : []));
        return ok(true);
      case "getMyCommands":
        return ok(this.commands);
      default:
        throw new ApiError(404, "Not Found");
    }
  }

  private async getUpdates(params: Params, res: ServerResponse): Promise<Reply> {
    if (this.webhookUrl)
      throw new ApiError(409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first");
    if (this.poller) {
      if (this.conflict === "reject-new") throw new ApiError(409, CONFLICT_POLL);
      this.poller.terminate();
    }
    const offset = Number(params.offset ?? 0);
    if (offset > 0) this.dropBefore(offset);
    else if (offset < 0) this.updates.splice(0, Math.max(0, this.updates.length + offset));
    if (Array.isArray(params.allowed_updates)) {
      this.allowedUpdates = params.allowed_updates.length > 0 ? params.allowed_updates.map(String) : DEFAULT_ALLOWED;
    }
    const limit = Math.min(100, Math.max(1, Number(params.limit ?? 100)));
    const timeout = Math.max(0, Number(params.timeout ?? 0));
    const available = (): unknown[] => {
      // Updates of types not asked for are never delivered (Telegram drops them).
      for (let i = this.updates.length - 1; i >= 0; i--) {
        const update = this.updates[i];
        if (update && !Object.keys(update).some((key) => this.allowedUpdates.includes(key))) this.updates.splice(i, 1);
      }
      return this.updates.slice(0, limit);
    };
    const ready = available();
    if (ready.length > 0 || timeout === 0) return { status: 200, body: { ok: true, result: ready } };
    return new Promise<Reply>((resolve) => {
      const finish = (reply: Reply): void => {
        clearTimeout(timer);
        res.off("close", onClose);
        if (this.poller === poller) this.poller = undefined;
        resolve(reply);
      };
      const poller: Poller = {
        wake: (force = false) => {
          const updates = available();
          if (updates.length > 0 || force) finish({ status: 200, body: { ok: true, result: updates } });
        },
        terminate: () => finish({ status: 409, body: { ok: false, error_code: 409, description: CONFLICT_POLL } }),
      };
      const onClose = (): void => finish("aborted"); // the client gave up (aborted its request)
      const timer = setTimeout(() => finish({ status: 200, body: { ok: true, result: [] } }), timeout * 1000);
      res.on("close", onClose);
      this.poller = poller;
    });
  }

  private dropBefore(offset: number): void {
    while (this.updates.length > 0 && (this.updates[0]?.update_id ?? Infinity) < offset) this.updates.shift();
  }

  private sendMessage(params: Params): Record<string, unknown> {
    const chatId = this.chatOf(params);
    const { text, entities } = renderText(params);
    const message: StoredMessage = {
      message_id: this.allocateMessageId(chatId),
      chatId,
      fromBot: true,
      text,
      entities,
      raw: String(params.text),
      date: Math.floor(Date.now() / 1000),
      edits: 0,
      ...(typeof params.parse_mode === "string" ? { parseMode: params.parse_mode } : {}),
    };
    this.store(message);
    return this.toApiMessage(message);
  }

  private editMessageText(params: Params): Record<string, unknown> {
    const chatId = this.chatOf(params);
    const message = this.chats.get(chatId)?.find((candidate) => candidate.message_id === Number(params.message_id));
    if (!message) throw new ApiError(400, "Bad Request: message to edit not found");
    if (!message.fromBot) throw new ApiError(400, "Bad Request: message can't be edited");
    const { text, entities } = renderText(params);
    if (text === message.text && isDeepStrictEqual(entities, message.entities)) {
      throw new ApiError(
        400,
        "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
      );
    }
    Object.assign(message, {
      text,
      entities,
      raw: String(params.text),
      parseMode: typeof params.parse_mode === "string" ? params.parse_mode : undefined,
      edits: message.edits + 1,
    });
    return { ...this.toApiMessage(message), edit_date: Math.floor(Date.now() / 1000) };
  }

  private serveFile(pathname: string, res: ServerResponse): void {
    this.downloads.push(pathname);
    const prefix = `/file/bot${this.token}/`;
    const path = pathname.startsWith(prefix) ? decodeURIComponent(pathname.slice(prefix.length)) : undefined;
    const file = [...this.files.values()].find((candidate) => candidate.path === path);
    if (!file) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ ok: false, error_code: 404, description: "Not Found" }));
      return;
    }
    res.writeHead(200, { "content-type": "application/octet-stream" });
    res.end(file.bytes);
  }

  private upload(method: string, params: Params): Record<string, unknown> {
    const chatId = this.chatOf(params);
    const field = method === "sendPhoto" ? "photo" : "document";
    const value = params[field];
    const attached = typeof value === "string" && value.startsWith("attach://") ? params[value.slice("attach://".length)] : value;
    if (!(attached instanceof UploadedFile)) throw new ApiError(400, `Bad Request: there is no ${field} in the request`);
    if (attached.bytes.length === 0) throw new ApiError(400, "Bad Request: file must be non-empty");
    const caption = typeof params.caption === "string" ? params.caption : undefined;
    if (caption !== undefined && caption.length > 1024) throw new ApiError(400, "Bad Request: message caption is too long");
    this.uploads.push({ method, chatId, fileName: attached.name, bytes: attached.bytes, ...(caption !== undefined ? { caption } : {}) });
    const message: StoredMessage = {
      message_id: this.allocateMessageId(chatId),
      chatId,
      fromBot: true,
      text: caption ?? "",
      entities: [],
      raw: `[${field}: ${attached.name}]`,
      date: Math.floor(Date.now() / 1000),
      edits: 0,
    };
    this.store(message);
    return this.toApiMessage(message);
  }

  private chatOf(params: Params): number {
    if (params.chat_id === undefined || params.chat_id === "") throw new ApiError(400, "Bad Request: chat_id is empty");
    const chatId = Number(params.chat_id);
    if (!Number.isSafeInteger(chatId) || !this.chats.has(chatId)) throw new ApiError(400, "Bad Request: chat not found");
    return chatId;
  }

  private allocateMessageId(chatId: number): number {
    this.addChat(chatId);
    const id = this.nextMessageId.get(chatId) ?? 1;
    this.nextMessageId.set(chatId, id + 1);
    return id;
  }

  private store(message: StoredMessage): void {
    this.addChat(message.chatId);
    this.chats.get(message.chatId)?.push(message);
  }

  private toApiMessage(message: StoredMessage): Record<string, unknown> {
    return {
      message_id: message.message_id,
      from: FAKE_BOT_USER,
      chat: message.chatId > 0 ? { id: message.chatId, type: "private" } : { id: message.chatId, type: "supergroup", title: `Group ${message.chatId}` },
      date: message.date,
      text: message.text,
      ...(message.entities.length > 0 ? { entities: message.entities } : {}),
    };
  }
}

export async function startFakeTelegram(options: FakeTelegramOptions = {}): Promise<FakeTelegram> {
  return new FakeTelegram(options).listen();
}

// ---- request parsing

/** A file part of a multipart request. */
class UploadedFile {
  constructor(
    readonly name: string,
    readonly bytes: Buffer,
  ) {}
}

async function readParams(req: IncomingMessage): Promise<Params> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks);
  const body = raw.toString("utf8");
  if (!body) return {};
  const type = req.headers["content-type"] ?? "";
  if (type.includes("multipart/form-data")) {
    return parseMultipart(raw, type);
  }
  if (type.includes("application/json")) {
    try {
      const parsed: unknown = JSON.parse(body);
      return parsed && typeof parsed === "object" ? (parsed as Params) : {};
    } catch {
      throw new ApiError(400, "Bad Request: invalid JSON in request body");
    }
  }
  if (type.includes("application/x-www-form-urlencoded")) {
    return Object.fromEntries([...new URLSearchParams(body)].map(([key, value]) => [key, coerce(value)]));
  }
  throw new ApiError(400, `Bad Request: unsupported content type in the fake: ${type || "none"}`);
}

/** multipart/form-data as grammY writes it (a filename may be unquoted, which undici's parser rejects). */
function parseMultipart(raw: Buffer, type: string): Params {
  const boundary = /boundary=("?)([^";]+)\1/.exec(type)?.[2];
  if (!boundary) throw new ApiError(400, "Bad Request: multipart without a boundary");
  const delimiter = Buffer.from(`--${boundary}`);
  const params: Params = {};
  let start = raw.indexOf(delimiter);
  while (start !== -1) {
    const next = raw.indexOf(delimiter, start + delimiter.length);
    if (next === -1) break;
    const part = raw.subarray(start + delimiter.length + 2, next - 2); // skip CRLF after the delimiter and before the next
    const split = part.indexOf("\r\n\r\n");
    if (split !== -1) {
      const headers = part.subarray(0, split).toString("utf8");
      const body = part.subarray(split + 4);
      const name = /name="([^"]*)"/i.exec(headers)?.[1];
      const filename = /filename=(?:"([^"]*)"|([^;\r\n]*))/i.exec(headers);
      if (name !== undefined) params[name] = filename ? new UploadedFile(filename[1] ?? filename[2] ?? "", Buffer.from(body)) : coerce(body.toString("utf8"));
    }
    start = next;
  }
  return params;
}

/** Form values are strings; Telegram parses numbers, booleans and JSON-serialized objects. */
function coerce(value: string): unknown {
  if (/^-?\d+$/.test(value)) return Number(value);
  if (value === "true" || value === "false") return value === "true";
  if (/^[[{]/.test(value)) {
    try {
      return JSON.parse(value);
    } catch {
      return value;
    }
  }
  return value;
}

// ---- message text validation

function renderText(params: Params): { text: string; entities: MessageEntity[] } {
  if (typeof params.text !== "string" || params.text === "") throw new ApiError(400, "Bad Request: message text is empty");
  const parseMode = typeof params.parse_mode === "string" ? params.parse_mode : "";
  const rendered = parseMode.toUpperCase() === "HTML" ? parseTelegramHtml(params.text) : { text: params.text, entities: [] };
  if (rendered.text.trim() === "") throw new ApiError(400, "Bad Request: message text is empty");
  if (rendered.text.length > 4096) throw new ApiError(400, "Bad Request: message is too long");
  return rendered;
}

const TAG_ENTITIES: Record<string, string> = {
  b: "bold",
  strong: "bold",
  i: "italic",
  em: "italic",
  u: "underline",
  ins: "underline",
  s: "strikethrough",
  strike: "strikethrough",
  del: "strikethrough",
  a: "text_link",
  code: "code",
  pre: "pre",
  span: "spoiler",
  "tg-spoiler": "spoiler",
  blockquote: "blockquote",
  "tg-emoji": "custom_emoji",
};
const FORMATTING = new Set(["bold", "italic", "underline", "strikethrough", "spoiler"]);

interface OpenTag {
  name: string;
  entity: MessageEntity;
}

/**
 * Parses Telegram-flavoured HTML into text + entities, throwing Telegram's 400 errors for
 * unsupported tags, unbalanced tags and forbidden nesting (code/pre hold no other entity and sit in
 * none except pre>code; links and blockquotes don't nest).
 */
export function parseTelegramHtml(html: string): { text: string; entities: MessageEntity[] } {
  const fail = (reason: string): never => {
    throw new ApiError(400, `Bad Request: can't parse entities: ${reason}`);
  };
  const byteOffset = (index: number): number => Buffer.byteLength(html.slice(0, index));
  let text = "";
  const entities: MessageEntity[] = [];
  const stack: OpenTag[] = [];
  let i = 0;
  while (i < html.length) {
    const char = html[i];
    if (char === "<") {
      const rest = html.slice(i);
      if (rest.startsWith("</")) {
        const end = /^<\/([A-Za-z][\w-]*)\s*>/.exec(rest);
        if (!end?.[1]) return fail(`Unexpected end tag at byte offset ${byteOffset(i)}`);
        const name = end[1].toLowerCase();
        const top = stack.pop();
        if (!top) return fail(`Unexpected end tag at byte offset ${byteOffset(i)}`);
        if (top.name !== name) return fail(`Can't find end tag corresponding to start tag "${top.name}"`);
        top.entity.length = text.length - top.entity.offset;
        if (top.entity.length > 0) entities.push(top.entity);
        i += end[0].length;
        continue;
      }
      const start = /^<([A-Za-z][\w-]*)((?:\s+[A-Za-z-]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>"']+))?)*)\s*>/.exec(rest);
      if (!start?.[1]) return fail(`Unsupported start tag at byte offset ${byteOffset(i)}`);
      const name = start[1].toLowerCase();
      const type = TAG_ENTITIES[name];
      if (!type) return fail(`Unsupported start tag "${name}" at byte offset ${byteOffset(i)}`);
      const attributes = parseAttributes(start[2] ?? "");
      const entity: MessageEntity = { type, offset: text.length, length: 0 };
      const parent = stack[stack.length - 1];
      if (type === "text_link") {
        if (!attributes.href) return fail(`Can't find href attribute of tag "a" at byte offset ${byteOffset(i)}`);
        entity.url = attributes.href;
      }
      if (type === "spoiler" && name === "span" && attributes.class !== "tg-spoiler")
        return fail(`Tag "span" must have class "tg-spoiler" at byte offset ${byteOffset(i)}`);
      const pairOk = parent?.entity.type === "pre" && type === "code" && parent.entity.offset === text.length;
      if (stack.some((open) => open.entity.type === "code" || open.entity.type === "pre") && !pairOk) {
        return fail(`Entity "${type}" can't be nested in code or pre at byte offset ${byteOffset(i)}`);
      }
      if (
        (type === "code" || type === "pre") &&
        !pairOk &&
        stack.some((open) => FORMATTING.has(open.entity.type) || open.entity.type === "text_link" || open.entity.type === "blockquote")
      ) {
        return fail(`Entity "${type}" can't be part of another entity at byte offset ${byteOffset(i)}`);
      }
      if (type === "text_link" && stack.some((open) => open.entity.type === "text_link")) return fail(`Nested links at byte offset ${byteOffset(i)}`);
      if (type === "blockquote" && stack.some((open) => open.entity.type === "blockquote")) return fail(`Nested blockquotes at byte offset ${byteOffset(i)}`);
      if (pairOk && parent) {
        const language = /^language-(.+)$/.exec(attributes.class ?? "")?.[1];
        if (language) parent.entity.language = language;
      }
      stack.push({ name, entity });
      i += start[0].length;
      continue;
    }
    if (char === "&") {
      const entity = /^&(lt|gt|amp|quot|#\d+|#x[\da-fA-F]+);/.exec(html.slice(i));
      if (entity?.[1]) {
        const value = entity[1];
        text +=
          value === "lt"
            ? "<"
            : value === "gt"
              ? ">"
              : value === "amp"
                ? "&"
                : value === "quot"
                  ? '"'
                  : String.fromCodePoint(value.startsWith("#x") ? parseInt(value.slice(2), 16) : Number(value.slice(1)));
        i += entity[0].length;
        continue;
      }
    }
    text += char;
    i++;
  }
  const unclosed = stack.pop();
  if (unclosed) return fail(`Can't find end tag corresponding to start tag "${unclosed.name}"`);
  // Inner entities close first; Telegram lists entities by offset.
  entities.sort((a, b) => a.offset - b.offset || b.length - a.length);
  // A pre>code pair is one pre entity.
  return {
    text,
    entities: entities.filter(
      (entity, index) =>
        !(
          entity.type === "code" &&
          entities.some((other, j) => j !== index && other.type === "pre" && other.offset === entity.offset && other.length === entity.length)
        ),
    ),
  };
}

function parseAttributes(source: string): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const match of source.matchAll(/([A-Za-z-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?/g)) {
    const name = match[1]?.toLowerCase();
    if (name)
      attributes[name] = (match[2] ?? match[3] ?? match[4] ?? "")
        .replace(/&quot;/g, '"')
        .replace(/&lt;/g, "<")
        .replace(/&gt;/g, ">")
        .replace(/&amp;/g, "&");
  }
  return attributes;
}
