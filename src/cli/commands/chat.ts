/**
 * `pi-gateway chat`: a terminal client for the daemon's WebSocket. Interactive (one prompt per
 * line, replies streamed as they come; turns of any other origin too, each under a line naming
 * it) or one-shot with --message. The token comes from --token, $GATEWAY_TOKEN, or the token file
 * the daemon wrote ($GATEWAY_TOKEN_FILE, ~/.config/pi-gateway/token), so no flag is needed locally.
 */
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import type { Command } from "commander";
import { GatewayError } from "../../bus/errors.js";
import { readTokenFile, tokenFile } from "../../daemon/config.js";
import { parseSetting } from "../../config/resolve.js";
import type { DaemonStatus, TurnOrigin } from "../../daemon/types.js";
import type { ServerMessage } from "../../daemon/ws-protocol.js";
import { action, globalOptions, oneLine, UsageError } from "../context.js";
import { ChatConnection, type Hello } from "./chat-connection.js";

const DEFAULT_CHAT_URL = "ws://127.0.0.1:8787/ws";

interface ChatFlags {
  url: string;
  token?: string;
  message?: string;
}

export function registerChat(program: Command): void {
  program
    .command("chat")
    .description("talk to the gateway's agent from the terminal (over the daemon's WebSocket)")
    .option("--url <url>", "the daemon's WebSocket", DEFAULT_CHAT_URL)
    .option("--token <token>", "gateway token (default: $GATEWAY_TOKEN, else the daemon's token file: $GATEWAY_TOKEN_FILE or ~/.config/pi-gateway/token)")
    .option("-m, --message <text>", "send one message, print the streamed reply, exit")
    .addHelpText(
      "after",
      `
Interactive commands: /abort (stop the current turn), /status, /quit (or Ctrl-D / Ctrl-C).
With --json every server message is printed as one JSON line.

Examples:
  pi-gateway chat
  pi-gateway chat --message "what is the build status?"
  pi-gateway chat --url ws://192.168.1.5:8787/ws --token "$GATEWAY_TOKEN"`,
    )
    .action(
      action(async (flags: ChatFlags, command: Command) => {
        const json = Boolean(globalOptions(command).json);
        const token = chatToken(flags.token);
        if (flags.message !== undefined && !flags.message.trim()) throw new UsageError("--message must not be empty");
        let url: URL;
        try {
          url = new URL(flags.url);
        } catch {
          throw new UsageError(`--url is not a URL: ${flags.url}`);
        }
        if (url.protocol === "http:") url.protocol = "ws:";
        if (url.protocol === "https:") url.protocol = "wss:";
        if (url.protocol !== "ws:" && url.protocol !== "wss:") throw new UsageError(`--url must be ws:// or wss://, not ${url.protocol}`);
        const connection = new ChatConnection(url, token);
        const hello = await connection.open();
        const output = new Output(json);
        connection.on("reconnecting", (attempt) => attempt === 1 && output.note("(connection lost: reconnecting…)"));
        connection.on("resumed", (again) =>
          output.note(`(reconnected${again.missed ? `: ${again.missed} missed repl${again.missed === 1 ? "y" : "ies"} follow` : ""})`),
        );
        if (flags.message !== undefined) await oneShot(connection, hello, flags.message, output);
        else await interactive(connection, hello, output);
      }),
    );
}

/** --token, else $GATEWAY_TOKEN, else the token file the daemon wrote; one clear error when there is none. */
function chatToken(flag: string | undefined): string {
  if (flag !== undefined) {
    if (!flag.trim()) throw new UsageError("--token must not be empty");
    return flag.trim();
  }
  const fromEnv = parseSetting("GATEWAY_TOKEN", process.env.GATEWAY_TOKEN);
  if (fromEnv) return fromEnv;
  const file = tokenFile(process.env);
  if (!existsSync(file)) throw new UsageError(`no token: pass --token, set GATEWAY_TOKEN, or start the daemon once (it writes ${file})`);
  try {
    return readTokenFile(file);
  } catch (error) {
    throw new UsageError(`${(error as Error).message}: pass --token or set GATEWAY_TOKEN`);
  }
}

/** Renders server messages: streamed text, dimmed tool lines, errors on stderr. */
class Output {
  private atLineStart = true;
  /** Requests that already streamed deltas (so "end" does not print the text twice). */
  private streamed = new Set<string>();
  /** Request ids of this client's own prompts: every other turn gets a line naming its origin. */
  readonly own = new Set<string>();
  private readonly dim = process.stdout.isTTY && !process.env.NO_COLOR;

  constructor(readonly json: boolean) {}

  show(message: ServerMessage): void {
    if (this.json) return this.write(`${JSON.stringify(message)}\n`);
    switch (message.type) {
      case "start":
        if (!this.own.has(message.requestId)) this.line(this.faint(originLine(message.origin, message.prompt)));
        return;
      case "delta":
        this.streamed.add(message.requestId);
        this.write(message.text);
        return;
      case "end":
        if (!this.streamed.has(message.requestId) && message.text) this.write(message.text);
        this.streamed.delete(message.requestId);
        this.newline();
        return;
      case "tool":
        if (message.phase === "start") this.line(this.faint(`[tool ${message.name} …]`));
        else if (message.isError) this.line(this.faint(`[tool ${message.name} failed]`));
        return;
      case "error":
        this.newline();
        process.stderr.write(`error: ${message.message}\n`);
        return;
      case "invalid":
        this.newline();
        process.stderr.write(`the gateway refused a message: ${message.message}\n`);
        return;
      case "status":
        this.line(formatStatus(message.status));
        return;
      case "queued":
        if (message.duplicate) this.line(this.faint("(already received: not run again)"));
        return;
      case "notify":
        this.newline();
        this.line(`[notification from ${oneLine(message.from)}] ${oneLine(message.text)}${message.file ? ` (file: ${oneLine(message.file)})` : ""}`);
        return;
      default:
        return;
    }
  }

  note(text: string): void {
    if (this.json) return;
    this.line(this.faint(text));
  }

  newline(): void {
    if (!this.atLineStart) this.write("\n");
  }

  private line(text: string): void {
    this.newline();
    this.write(`${text}\n`);
  }

  private faint(text: string): string {
    return this.dim ? `\x1b[2m${text}\x1b[22m` : text;
  }

  private write(text: string): void {
    if (!text) return;
    process.stdout.write(text);
    this.atLineStart = text.endsWith("\n");
  }
}

/** `[event via redis: build.failed from ci]`, then a human prompt's first line: who started a turn. */
function originLine(origin: TurnOrigin | undefined, prompt: string | undefined): string {
  if (!origin) return "[another turn]";
  const what = [origin.types?.join(","), origin.sources?.length ? `from ${origin.sources.join(",")}` : "", origin.from ? `from ${origin.from}` : ""]
    .filter(Boolean)
    .join(" ");
  const said = origin.kind === "prompt" && prompt ? ` ${prompt.split("\n")[0]!.slice(0, 200)}` : "";
  return `[${origin.kind} via ${origin.channel}${what ? `: ${what}` : ""}]${said}`;
}

function formatStatus(status: DaemonStatus): string {
  const queue = Object.entries(status.queue)
    .map(([priority, count]) => `${priority} ${count}`)
    .join(", ");
  const parts = [`state: ${status.state}`, `queue: ${queue}`, `processed: ${status.processed}`];
  if (status.current) parts.push(`current: ${status.current.requestId} (${status.current.channel})`);
  if (status.watchdog) parts.push(`watchdog: ${status.watchdog}`);
  return parts.join(" | ");
}

/**
 * Sends one prompt and resolves when its reply ended; rejects on an error reply, or when the
 * connection is lost for good (a drop is resumed: the reply comes after the reconnect).
 */
function oneShot(connection: ChatConnection, hello: Hello, text: string, output: Output): Promise<void> {
  return new Promise((resolve, reject) => {
    const id = randomUUID();
    let requestId: string | undefined;
    let acknowledged = false;
    output.own.add(`ws:${id}`);
    if (output.json) output.show(hello);
    const finish = (error?: GatewayError) => {
      connection.removeAllListeners("closed");
      connection.close();
      if (error) reject(error);
      else resolve();
    };
    connection.on("message", (message) => {
      if (message.type === "queued" && message.id === id) {
        acknowledged = true;
        requestId = message.requestId;
        output.own.add(requestId);
      }
      const mine = "requestId" in message && (message.requestId === requestId || message.requestId === `ws:${id}`);
      if (message.type === "invalid" || mine || output.json) output.show(message);
      if (message.type === "invalid") return finish(new GatewayError(`the gateway refused the message: ${message.message}`, "INVALID"));
      if (!mine) return;
      if (message.type === "end") finish();
      else if (message.type === "error") finish(new GatewayError(message.message, "REPLY_ERROR"));
    });
    // Not acknowledged before the drop: sent again with the same id (a duplicate is not run twice).
    connection.on("resumed", () => acknowledged || connection.send({ type: "prompt", id, text }));
    connection.on("closed", (error) => {
      output.newline();
      reject(error ?? new GatewayError("the gateway closed the connection before the reply ended", "DISCONNECTED"));
    });
    connection.send({ type: "prompt", id, text });
  });
}

/** Reads lines from stdin until EOF, /quit or Ctrl-C; waits for replies in flight on EOF. */
function interactive(connection: ChatConnection, hello: Hello, output: Output): Promise<void> {
  return new Promise((resolve, reject) => {
    if (output.json) output.show(hello);
    else output.note(`connected (gateway ${hello.version}). /abort, /status, /quit; Ctrl-D to leave.`);
    const inFlight = new InFlight();
    let inputClosed = false;
    let done = false;
    const tty = Boolean(process.stdin.isTTY);
    const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: tty, prompt: tty ? "> " : "" });

    const finish = (error?: GatewayError) => {
      if (done) return;
      done = true;
      rl.close();
      connection.removeAllListeners("closed");
      connection.close();
      if (error) reject(error);
      else resolve();
    };
    const maybeFinish = () => {
      if (inputClosed && inFlight.empty) finish();
    };

    connection.on("message", (message) => {
      output.show(message);
      if (inFlight.update(message) && tty && !inputClosed) rl.prompt();
      maybeFinish();
    });
    // Prompts not acknowledged before a drop are sent again (same ids: never run twice).
    connection.on("resumed", () => {
      for (const prompt of inFlight.unacknowledgedPrompts()) connection.send({ type: "prompt", ...prompt });
    });
    connection.on("closed", (error) => {
      output.newline();
      finish(error ?? new GatewayError("the gateway closed the connection", "DISCONNECTED"));
    });

    rl.on("line", (line) => onLine(line, { connection, output, inFlight, prompt: () => rl.prompt(), quit: () => finish() }));
    rl.on("SIGINT", () => {
      output.newline();
      finish();
    });
    rl.on("close", () => {
      inputClosed = true;
      maybeFinish();
    });
    if (tty) rl.prompt();
  });
}

/** This client's prompts whose reply has not ended yet: an EOF waits for them. */
class InFlight {
  /** Request ids whose reply has not ended. */
  private readonly pending = new Set<string>();
  /** Replies that ended (a resent prompt's "duplicate" then needs no waiting). */
  private readonly ended = new Set<string>();
  /** Prompts sent but not acknowledged yet, oldest first (an "invalid" answer drops the oldest). */
  private readonly unacknowledged = new Map<string, string>();

  get empty(): boolean {
    return this.pending.size === 0;
  }

  /** Counted as in flight right away, so an EOF right after the line still waits for the reply. */
  sent(id: string, text: string): void {
    this.pending.add(`ws:${id}`);
    this.unacknowledged.set(id, text);
  }

  /** What to send again after a reconnect: prompts whose "queued" never arrived. */
  unacknowledgedPrompts(): Array<{ id: string; text: string }> {
    return [...this.unacknowledged].map(([id, text]) => ({ id, text }));
  }

  /** Follows a server message; true when it ended a reply (time to show the prompt again). */
  update(message: ServerMessage): boolean {
    if (message.type === "queued") {
      this.unacknowledged.delete(message.id);
      // A duplicate is a prompt resent after a reconnect: its reply still comes to this client.
      if (!this.ended.has(message.requestId)) this.pending.add(message.requestId);
    }
    if (message.type === "invalid") {
      const oldest = this.unacknowledged.keys().next().value;
      if (oldest !== undefined) {
        this.unacknowledged.delete(oldest);
        this.pending.delete(`ws:${oldest}`);
      }
    }
    if (message.type !== "end" && message.type !== "error") return false;
    this.pending.delete(message.requestId);
    this.ended.add(message.requestId);
    return true;
  }
}

interface ChatSession {
  connection: ChatConnection;
  output: Output;
  inFlight: InFlight;
  prompt(): void;
  quit(): void;
}

/** One line typed by the user: a command (/quit, /abort, /status) or a prompt. */
function onLine(line: string, session: ChatSession): void {
  const { connection, output, inFlight } = session;
  const text = line.trim();
  if (!text) return session.prompt();
  if (text === "/quit" || text === "/exit") return session.quit();
  if (text === "/abort") {
    connection.send({ type: "abort" });
    output.note("(abort requested)");
    return;
  }
  if (text === "/status") return void connection.send({ type: "status" });
  const id = randomUUID();
  inFlight.sent(id, line);
  output.own.add(`ws:${id}`);
  connection.send({ type: "prompt", id, text: line });
}
