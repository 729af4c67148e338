/**
 * The contracts between the daemon's parts. Every input (Telegram, WebSocket, HTTP webhook, Redis
 * event, heartbeat, CLI) becomes an InboundMessage submitted to the command queue; the agent runner
 * processes one command at a time; the outbound router sends each ReplyEvent back to the address
 * the command came with (scoped per request, never a global "current channel").
 */
import type { EventSummary, GatewayMessageDetails } from "../host/gateway-message-types.js";
import type { Logger } from "../util/log-types.js";

export type { EventSummary, GatewayMessageDetails };

/** Human messages go before events, events before heartbeats (with aging, so nothing starves). */
export type Priority = "human" | "event" | "heartbeat";

/**
 * How a command joins the agent when it is already busy:
 * followUp (default) waits for the current turn; steer interrupts after the current tool call;
 * collect merges commands of the same source arriving within a short window into one.
 */
export type QueueMode = "followUp" | "steer" | "collect";

/** Where replies for a command go: a channel and an address inside it (chat id, connection id). */
export interface ReplyAddress {
  channel: string;
  to: string;
}

export interface InboundMessage {
  /** Dedup key, stable across retries of the same input: "telegram:<update_id>", "ws:<client id>:<msg id>", "event:<event id>". */
  id: string;
  /** The channel it came from: "telegram", "websocket", "http", "redis", "heartbeat", "cli". */
  channel: string;
  text: string;
  priority: Priority;
  /** Replies go here. Without it, replies go to the configured owner channel (events), or nowhere. */
  replyTo?: ReplyAddress;
  mode?: QueueMode;
  /** Free-form labels for logs and the web page (sender name, event type...). */
  meta?: Record<string, string>;
  /**
   * Events, heartbeats and alarms: what the gateway message's details say (its `batch` set per
   * turn). The turn then enters the session as a gateway custom message, not a user prompt.
   */
  gateway?: GatewayMessageDetails;
  /** Pictures the model sees with the text (a Telegram photo): base64 data, capped in size by the channel. */
  images?: InboundImage[];
}

/** An image attached to a prompt, as pi takes it (ImageContent without the type tag). */
export interface InboundImage {
  /** Base64 of the image bytes. */
  data: string;
  mimeType: string;
}

/** Most images one command carries, and most base64 characters per image (~12 MiB of image). */
export const MAX_IMAGES = 4;
export const MAX_IMAGE_BASE64 = 16 * 1024 * 1024;

/** What started a turn: a human prompt, an event batch, a webhook, a heartbeat or a watchdog alarm. */
export interface TurnOrigin {
  kind: "prompt" | "event" | "webhook" | "heartbeat" | "alarm";
  /** The input channel: telegram, websocket, http, redis, heartbeat, watchdog, extension... */
  channel: string;
  requestId: string;
  /** Every command the turn answered, when several event commands were batched into it (requestId is the first). */
  requestIds?: string[];
  /** Event types of an event or webhook turn. */
  types?: string[];
  /** Event sources of an event or webhook turn. */
  sources?: string[];
  /** The sender's name, when the channel knows it (Telegram). */
  from?: string;
}

/** One item of the conversation (GET /api/history, src/daemon/history.ts builds them). */
export type HistoryItem =
  /** `events`: a gateway message's events, one badge each (type, source, time, origin, payload preview). */
  | { id: string; kind: "prompt"; at: number; origin: TurnOrigin | null; text: string; events?: EventSummary[] }
  | { id: string; kind: "tool"; at: number; name: string; args: string; status: "ok" | "error" | "pending" }
  | { id: string; kind: "reply"; at: number; text: string; error?: string };

/** Streamed back for one command (requestId = the command's id). */
export type ReplyEvent =
  /** `origin` and `prompt` (what the agent was asked, capped) let clients that did not ask show the turn. */
  | { type: "start"; requestId: string; origin?: TurnOrigin; prompt?: string; events?: EventSummary[] }
  | { type: "delta"; requestId: string; text: string }
  | { type: "tool"; requestId: string; name: string; phase: "start" | "end"; isError?: boolean }
  | { type: "end"; requestId: string; text: string }
  | { type: "error"; requestId: string; message: string };

export interface SubmitResult {
  /** "duplicate": this id was already accepted (retried webhook, re-delivered update). */
  status: "queued" | "duplicate";
  requestId: string;
}

export interface CommandSink {
  /** Resolves once the command is durably stored (so the channel may acknowledge its input). */
  submit(message: InboundMessage): Promise<SubmitResult>;
}

/** What the daemon reports while it works (the /metrics counters); calls are cheap and never throw. */
export interface DaemonObserver {
  /** Bus events were taken into the command queue (heartbeats included). */
  eventsDelivered(count: number): void;
  /** A command was dead-lettered after its turn failed for good: `count` messages or events. */
  deadLettered(count: number): void;
  /** A turn ended (answered, aborted or failed) `seconds` after it started. */
  turnEnded(priority: Priority, seconds: number): void;
}

export interface DaemonStatus {
  state: "starting" | "idle" | "busy" | "stopping";
  sessionFile?: string;
  /** Commands waiting, per priority. */
  queue: Record<Priority, number>;
  /** The oldest waiting event's age, and turns per second and events per turn over a recent window. */
  load?: { oldestEventAgeMs: number | null; windowSeconds: number; turns: number; turnsPerSecond: number; eventsPerTurn: number | null };
  current?: { requestId: string; channel: string; startedAt: number };
  processed: number;
  lastHeartbeat: number | null;
  watchdog?: string;
  /** Set when pi has no usable model: why, and how to fix it (the daemon is then not ready). */
  modelProblem?: string;
}

/** What channels may ask of the daemon (Telegram /status /new /abort, WebSocket status/abort). */
export interface DaemonControl {
  status(): Promise<DaemonStatus>;
  /** Aborts the turn in progress, if any. */
  abort(): Promise<void>;
  /** Starts a fresh pi session (the old one stays on disk). */
  newSession(): Promise<void>;
}

export interface ChannelContext {
  commands: CommandSink;
  control: DaemonControl;
  logger: Logger;
}

/** A notification for the owner (`pi-gateway notify`, later the agent's gateway_notify). */
export interface OwnerNotice {
  id: string;
  text: string;
  from: string;
  at: number;
  file?: string;
}

export interface Channel {
  readonly name: string;
  start(context: ChannelContext): Promise<void>;
  stop(): Promise<void>;
  /** Delivers one reply event to an address of this channel. Must not throw for a gone client. */
  deliver(to: string, event: ReplyEvent): Promise<void>;
  /**
   * Optional: shows every turn, whoever asked, to all of this channel's clients (the WebSocket's),
   * except `exclude`, the address that asked and gets the same events through deliver().
   */
  broadcast?(event: ReplyEvent, exclude?: string): Promise<void>;
  /** Optional: shows a notification to all of this channel's clients (the owner channel gets it through deliver()). */
  notify?(notice: OwnerNotice): Promise<void>;
  /** Optional: delivers a notification to one address with its file (Telegram: as a photo or document); else deliver() gets its text. */
  deliverNotice?(to: string, notice: OwnerNotice): Promise<void>;
}
