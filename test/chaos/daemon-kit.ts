/**
 * The daemon for the chaos suite: the built `pi-gateway daemon` (test/helpers/daemon.ts) with the
 * real pi SDK against the fake LLM, plus a WebSocket prompt client and a fence checker for the
 * prompts the fake LLM receives.
 */
import { WebSocket } from "ws";
import type { ServerMessage } from "../../src/daemon/ws-protocol.js";
import { startDaemon, type DaemonProcess } from "../helpers/daemon.js";
import type { PiEnv } from "../helpers/pi-env.js";
import { waitFor } from "../helpers/wait.js";
import { track } from "./harness.js";

export const TOKEN = "chaos-test-token-0123456789abcdef";

export interface ChaosDaemonOptions {
  piEnv: PiEnv;
  redisUrl: string;
  telegram?: { token: string; apiRoot: string; allowedUsers: number[] };
  env?: Record<string, string>;
}

/** Starts the daemon; its process is tracked so killAll() ends it even when a test fails. */
export async function startChaosDaemon(options: ChaosDaemonOptions): Promise<DaemonProcess> {
  const env: Record<string, string> = {
    ...options.piEnv.env,
    REDIS_URL: options.redisUrl,
    GATEWAY_TOKEN: TOKEN,
    GATEWAY_SHUTDOWN_GRACE: "5s",
    GATEWAY_LOG_LEVEL: "warn",
    // The scenarios count every event by the id the LLM is shown: no turn sums any up. CENTRAL
    // LOAD, which measures the digest, sets it back to the default.
    GATEWAY_TURN_SHOWN_EVENTS: "1000000",
    ...options.env,
  };
  if (options.telegram) {
    env.TELEGRAM_BOT_TOKEN = options.telegram.token;
    env.TELEGRAM_API_ROOT = options.telegram.apiRoot;
    env.TELEGRAM_ALLOWED_USERS = options.telegram.allowedUsers.join(",");
    // The scenarios count "nothing sent to unlisted chats": strangers get no pairing code unless a scenario asks.
    env.TELEGRAM_PAIRING ??= "0";
  }
  const daemon = await startDaemon(env, ["--cwd", options.piEnv.cwd], 60_000);
  track("daemon", daemon.child);
  return daemon;
}

export interface WsReply {
  end: string;
  error?: string;
  types: string[];
  latencyMs: number;
}

/** Sends one prompt over a fresh WebSocket connection and waits for its end (or error). */
export async function wsPrompt(url: string, text: string, timeoutMs = 60_000, id = crypto.randomUUID()): Promise<WsReply> {
  const socket = new WebSocket(`${url.replace(/^http/, "ws")}/ws`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const messages: ServerMessage[] = [];
  socket.on("message", (data) => messages.push(JSON.parse(data.toString()) as ServerMessage));
  socket.on("error", () => undefined);
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  const started = Date.now();
  socket.send(JSON.stringify({ type: "prompt", id, text }));
  // Every client also sees the turns others started (events, other prompts): keep this prompt's own.
  const own = () =>
    messages.filter((m) => m.type === "hello" || m.type === "queued" || m.type === "invalid" || ("requestId" in m && m.requestId === `ws:${id}`));
  try {
    await waitFor(() => own().some((m) => m.type === "end" || m.type === "error"), `reply to ${text}`, timeoutMs, 20);
  } finally {
    socket.close();
  }
  const latencyMs = Date.now() - started;
  const mine = own();
  const error = mine.find((m) => m.type === "error");
  const end = mine.find((m) => m.type === "end");
  return {
    end: end && end.type === "end" ? end.text : "",
    error: error && error.type === "error" ? error.message : undefined,
    types: mine.map((m) => m.type),
    latencyMs,
  };
}

/** Tries a WebSocket upgrade and resolves with the HTTP status it got (101 when it opened). */
export function wsUpgradeStatus(url: string, headers: Record<string, string> = {}, query = ""): Promise<number> {
  return new Promise((resolve) => {
    const socket = new WebSocket(`${url.replace(/^http/, "ws")}/ws${query}`, { headers });
    socket.once("open", () => {
      socket.close();
      resolve(101);
    });
    socket.once("unexpected-response", (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      socket.terminate();
    });
    socket.once("error", () => resolve(-1));
  });
}

export interface FencedBlock {
  /** Backtick run of the opening fence. */
  marks: string;
  lang: string;
  content: string;
}

/**
 * The fenced code blocks of a Markdown text, found the CommonMark way: an opening line of 3+
 * backticks (up to 3 spaces indent), closed by the first later line of at least as many backticks
 * and nothing else but spaces. Text outside blocks is returned too, to check nothing escaped.
 */
export function fencedBlocks(markdown: string): { blocks: FencedBlock[]; outside: string; unclosed: boolean } {
  const lines = markdown.split("\n");
  const blocks: FencedBlock[] = [];
  const outside: string[] = [];
  let open: { marks: string; lang: string; body: string[] } | undefined;
  for (const line of lines) {
    if (!open) {
      const start = /^ {0,3}(`{3,})([^`]*)$/.exec(line);
      if (start) open = { marks: start[1]!, lang: start[2]!.trim(), body: [] };
      else outside.push(line);
      continue;
    }
    const close = /^ {0,3}(`{3,})[ \t]*$/.exec(line);
    if (close && close[1]!.length >= open.marks.length) {
      blocks.push({ marks: open.marks, lang: open.lang, content: open.body.join("\n") });
      open = undefined;
    } else open.body.push(line);
  }
  return { blocks, outside: outside.join("\n"), unclosed: open !== undefined };
}
