// A tiny fake OpenAI-compatible chat-completions server for driving the real `pi` agent in tests.
//
// Speaks exactly what pi-ai's `openai-completions` provider consumes (see
// node_modules/@mariozechner/pi-ai/dist/providers/openai-completions.js): SSE lines
// `data: <chat.completion.chunk JSON>\n\n`, one delta per chunk, a final chunk carrying
// `finish_reason`, an optional usage-only chunk (pi sends `stream_options.include_usage`),
// then `data: [DONE]`. Only node:http, bound to 127.0.0.1 on a free port.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** One content part of an OpenAI chat message (pi sends `{type:"text"}` and `{type:"image_url"}`). */
export interface ChatContentPart {
  type: string;
  text?: string;
  image_url?: { url: string };
}

export interface ChatMessage {
  role: "system" | "developer" | "user" | "assistant" | "tool" | string;
  /** pi sends user messages as an array of parts; system prompt and some others as a string. */
  content?: string | ChatContentPart[] | null;
  tool_calls?: unknown[];
  tool_call_id?: string;
}

/** The subset of a chat-completions request body we care about; everything else is kept as-is. */
export interface ChatCompletionBody {
  model?: string;
  messages?: ChatMessage[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  tools?: unknown[];
  [key: string]: unknown;
}

export interface FakeLlmRequest {
  /** 1-based sequence number across all recorded requests. */
  seq: number;
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  /** Parsed JSON body (empty object for GET / unparsable bodies). */
  body: ChatCompletionBody;
  /** Date.now() when the request body was fully received. */
  receivedAt: number;
  /** Text of the last `role: "user"` message (text parts joined with "\n"), or "" if none. */
  lastUserText: string;
  /** The request's size in tokens as this server counts them (~4 characters each, see FakeLlmOptions.usage). */
  promptTokens: number;
  /** Refused with the context-overflow error (over FakeLlmOptions.contextWindow). */
  overflowed: boolean;
}

export interface FakeLlmOptions {
  /**
   * What the server reports as token usage (pi compacts on it):
   * - "messages" (default): prompt tokens ≈ characters of the messages / 4, when the client asks
   *   (`stream_options.include_usage`, which pi does);
   * - "request": realistic, prompt tokens ≈ characters of the whole request body (system prompt,
   *   messages, tools) / 4, completion tokens ≈ characters of the reply / 4;
   * - "none": no usage at all, as some providers do.
   */
  usage?: "messages" | "request" | "none";
  /**
   * A request of more prompt tokens than this is refused the way OpenAI does: HTTP 400 with
   * `code: "context_length_exceeded"` and the "maximum context length is N tokens" message, which
   * pi's overflow detection recognises. Unset: no limit.
   */
  contextWindow?: number;
  /**
   * What the server keeps of the requests it saw (each holds the whole conversation, so a load test
   * or a soak of thousands of them would fill the test's memory):
   * - "all" (default): every request in `requests`, whole;
   * - "lean": every request, but once answered only its first message (what isSummaryRequest
   *   reads) besides lastUserText and the token count;
   * - "counts": none of them, only `counts`: read each one as it arrives with `observe`.
   */
  record?: "all" | "lean" | "counts";
}

/** OpenAI's answer to a request longer than the model's window (HTTP 400). */
export function contextOverflowBody(window: number, tokens: number): unknown {
  return {
    error: {
      message: `This model's maximum context length is ${window} tokens. However, your messages resulted in ${tokens} tokens. Please reduce the length of the messages.`,
      type: "invalid_request_error",
      param: "messages",
      code: "context_length_exceeded",
    },
  };
}

export interface FakeToolCall {
  name: string;
  /** Tool arguments; serialized to JSON and streamed as one `function.arguments` delta. */
  arguments: Record<string, unknown>;
  id?: string;
}

export interface FakeReply {
  /** Assistant text. Default "ok". */
  text?: string;
  /** Delay before the response headers are sent (the turn is "busy" meanwhile). */
  delayMs?: number;
  /** Delay between streamed text chunks (text is split into word-sized chunks). */
  chunkDelayMs?: number;
  /** Optional tool calls; finish_reason becomes "tool_calls". */
  toolCalls?: FakeToolCall[];
  /**
   * HTTP status to answer with. Anything but 200 sends `errorBody` instead of a completion, the way
   * a failing provider does (503 overloaded, 429 rate limited, 400 invalid request...).
   */
  status?: number;
  /** Body of an error answer: an object is sent as JSON, a string as is. Default: an OpenAI-style error naming the status. */
  errorBody?: unknown;
}

export type Responder = (req: FakeLlmRequest) => FakeReply | string | Promise<FakeReply | string>;

export interface FakeLlm {
  /** Base URL without the `/v1` suffix, e.g. http://127.0.0.1:41234 */
  url: string;
  /** All recorded requests (chat completions and /v1/models), in arrival order. */
  requests: FakeLlmRequest[];
  /** Only the POST /v1/chat/completions requests. */
  chatRequests(): FakeLlmRequest[];
  /** How many requests arrived (all routes, and chat completions), whatever `record` keeps. */
  counts: { all: number; chat: number };
  /** Calls `fn` with every chat-completions request as it arrives (before it is answered); returns the unsubscribe. */
  observe(fn: (req: FakeLlmRequest) => void): () => void;
  /**
   * Resolve with the first chat-completions request matching `predicate`, checking
   * already-recorded requests first, then waiting for new ones. Rejects after timeoutMs.
   * Use `r.seq > n` in the predicate to only match requests newer than a known point.
   */
  waitForRequest(predicate: (req: FakeLlmRequest) => boolean, timeoutMs?: number): Promise<FakeLlmRequest>;
  /** Script replies. Pass undefined to restore the default ("ok", no delay). */
  setResponder(fn: Responder | undefined): void;
  close(): Promise<void>;
}

export const FAKE_MODEL_ID = "fake-model";

/** A request pi sends to summarise the conversation (a compaction), not a turn of the conversation. */
export function isSummaryRequest(request: FakeLlmRequest): boolean {
  return JSON.stringify(request.body.messages?.[0] ?? "").includes("context summarization assistant");
}

/** Extract the text of the last user message of an OpenAI-style messages array. */
export function lastUserTextOf(messages: ChatMessage[] | undefined): string {
  const last = [...(messages ?? [])].reverse().find((m) => m.role === "user");
  if (!last || last.content == null) return "";
  if (typeof last.content === "string") return last.content;
  return last.content
    .filter((p) => p.type === "text" && typeof p.text === "string")
    .map((p) => p.text)
    .join("\n");
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/** Split text into word-sized chunks ("hello big world" -> ["hello ", "big ", "world"]). */
function splitChunks(text: string): string[] {
  return text.match(/\S+\s*|\s+/g) ?? [];
}

/** An error answer; the default body is shaped like OpenAI's, so the SDK's message names the status. */
function sendError(res: ServerResponse, status: number, body: unknown): void {
  const payload = body ?? { error: { message: `fake-llm: HTTP ${status}`, type: "fake_error", code: status } };
  const text = typeof payload === "string" ? payload : JSON.stringify(payload);
  res.writeHead(status, { "content-type": typeof payload === "string" ? "text/plain" : "application/json" });
  res.end(text);
}

function roughTokens(s: string): number {
  return Math.max(1, Math.ceil(s.length / 4));
}

/** Prompt tokens of a request as the server counts them (see FakeLlmOptions.usage). */
function promptTokensOf(body: ChatCompletionBody, usage: FakeLlmOptions["usage"]): number {
  return roughTokens(JSON.stringify(usage === "request" ? body : (body.messages ?? [])));
}

export async function startFakeLlm(options: FakeLlmOptions = {}): Promise<FakeLlm> {
  const requests: FakeLlmRequest[] = [];
  const waiters = new Set<(req: FakeLlmRequest) => void>();
  const observers = new Set<(req: FakeLlmRequest) => void>();
  const counts = { all: 0, chat: 0 };
  let responder: Responder | undefined;
  let seq = 0;
  let completionSeq = 0;

  async function resolveReply(req: FakeLlmRequest): Promise<Required<Pick<FakeReply, "text">> & FakeReply> {
    const r = responder ? await responder(req) : { text: "ok" };
    const reply: FakeReply = typeof r === "string" ? { text: r } : r;
    return { ...reply, text: reply.text ?? (reply.toolCalls?.length ? "" : "ok") };
  }

  async function handleChat(req: FakeLlmRequest, res: ServerResponse): Promise<void> {
    if (options.contextWindow !== undefined && req.promptTokens > options.contextWindow) {
      req.overflowed = true;
      sendError(res, 400, contextOverflowBody(options.contextWindow, req.promptTokens));
      return;
    }
    const reply = await resolveReply(req);
    if (reply.delayMs) await sleep(reply.delayMs);
    if (res.destroyed) return;
    if (reply.status !== undefined && reply.status !== 200) {
      sendError(res, reply.status, reply.errorBody);
      return;
    }

    const id = `chatcmpl-fake-${++completionSeq}`;
    const created = Math.floor(Date.now() / 1000);
    const model = req.body.model ?? FAKE_MODEL_ID;
    const finishReason = reply.toolCalls?.length ? "tool_calls" : "stop";
    const promptTokens = req.promptTokens;
    const completionTokens = roughTokens(reply.text + JSON.stringify(reply.toolCalls ?? []));
    const usage =
      options.usage === "none"
        ? undefined
        : { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
    const toolCallsWire = (reply.toolCalls ?? []).map((tc, index) => ({
      index,
      id: tc.id ?? `call_fake_${completionSeq}_${index}`,
      type: "function",
      function: { name: tc.name, arguments: JSON.stringify(tc.arguments) },
    }));

    if (!req.body.stream) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          id,
          object: "chat.completion",
          created,
          model,
          choices: [
            {
              index: 0,
              message: {
                role: "assistant",
                content: reply.text,
                ...(toolCallsWire.length ? { tool_calls: toolCallsWire.map(({ index: _i, ...tc }) => tc) } : {}),
              },
              finish_reason: finishReason,
            },
          ],
          ...(usage ? { usage } : {}),
        }),
      );
      return;
    }

    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      connection: "keep-alive",
    });
    const send = (payload: unknown) => {
      if (!res.destroyed) res.write(`data: ${JSON.stringify(payload)}\n\n`);
    };
    const chunk = (delta: Record<string, unknown>, finish: string | null) => ({
      id,
      object: "chat.completion.chunk",
      created,
      model,
      choices: [{ index: 0, delta, finish_reason: finish }],
    });

    send(chunk({ role: "assistant", content: "" }, null));
    for (const piece of splitChunks(reply.text)) {
      if (reply.chunkDelayMs) await sleep(reply.chunkDelayMs);
      if (res.destroyed) return; // client aborted (e.g. session.abort())
      send(chunk({ content: piece }, null));
    }
    if (toolCallsWire.length) send(chunk({ tool_calls: toolCallsWire }, null));
    send(chunk({}, finishReason));
    if (usage && req.body.stream_options?.include_usage) {
      send({ id, object: "chat.completion.chunk", created, model, choices: [], usage });
    }
    if (!res.destroyed) res.end("data: [DONE]\n\n");
  }

  const server = createServer((req, res) => {
    void (async () => {
      const raw = await readBody(req);
      let body: ChatCompletionBody = {};
      try {
        if (raw) body = JSON.parse(raw) as ChatCompletionBody;
      } catch {
        // keep {} for unparsable bodies
      }
      const path = (req.url ?? "/").split("?")[0] ?? "/";
      const record: FakeLlmRequest = {
        seq: ++seq,
        method: req.method ?? "GET",
        path,
        headers: req.headers,
        body,
        receivedAt: Date.now(),
        lastUserText: lastUserTextOf(body.messages),
        promptTokens: promptTokensOf(body, options.usage),
        overflowed: false,
      };
      counts.all += 1;
      if (options.record !== "counts") requests.push(record);

      if (record.method === "GET" && path.endsWith("/models")) {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ object: "list", data: [{ id: FAKE_MODEL_ID, object: "model", owned_by: "fake" }] }));
        return;
      }
      if (record.method === "POST" && path.endsWith("/chat/completions")) {
        counts.chat += 1;
        for (const o of [...observers]) o(record);
        for (const w of [...waiters]) w(record);
        await handleChat(record, res);
        if (options.record === "lean") record.body = { ...record.body, messages: record.body.messages?.slice(0, 1) };
        return;
      }
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: `fake-llm: no route ${record.method} ${path}` } }));
    })().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: String(err) } }));
    });
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const isChat = (r: FakeLlmRequest) => r.method === "POST" && r.path.endsWith("/chat/completions");

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    chatRequests: () => requests.filter(isChat),
    counts,
    observe(fn) {
      observers.add(fn);
      return () => observers.delete(fn);
    },
    waitForRequest(predicate, timeoutMs = 5000) {
      const existing = requests.find((r) => isChat(r) && predicate(r));
      if (existing) return Promise.resolve(existing);
      return new Promise((resolve, reject) => {
        const waiter = (r: FakeLlmRequest) => {
          if (!predicate(r)) return;
          clearTimeout(timer);
          waiters.delete(waiter);
          resolve(r);
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          const seen = requests.filter(isChat).map((r) => JSON.stringify(r.lastUserText));
          reject(new Error(`fake-llm: no matching request within ${timeoutMs}ms; seen lastUserText: [${seen.join(", ")}]`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    setResponder(fn) {
      responder = fn;
    },
    close() {
      waiters.clear();
      observers.clear();
      // Drop keep-alive / still-streaming connections so close() resolves promptly.
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
