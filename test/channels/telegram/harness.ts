// Shared setup for the Telegram channel tests: a fake Bot API, the channel pointed at it, and stub
// CommandSink / DaemonControl / Logger that record what the channel does.
import { QuotaExceededError } from "../../../src/daemon/prompt-quota.js";
import { createTelegramChannel, type TelegramChannelOptions } from "../../../src/channels/telegram/index.js";
import type { Channel, CommandSink, DaemonControl, DaemonStatus, InboundMessage, ReplyEvent } from "../../../src/daemon/types.js";
import type { Logger } from "../../../src/util/logger.js";
import { startFakeTelegram, type FakeTelegram, type FakeTelegramOptions } from "../../helpers/fake-telegram.js";
import { sleep, waitFor } from "../../helpers/wait.js";

export const OWNER = { userId: 4242, chatId: 4242, username: "owner" };

export interface LogEntry {
  level: "debug" | "info" | "warn" | "error";
  obj: Record<string, unknown>;
  msg: string;
}

export interface Harness {
  fake: FakeTelegram;
  channel: Channel;
  /** Commands accepted by the sink (duplicates included, marked). */
  submits: Array<InboundMessage & { duplicate: boolean }>;
  /** Every submit attempt, including ones the sink failed. */
  attempts: InboundMessage[];
  controlCalls: string[];
  logs: LogEntry[];
  status: DaemonStatus;
  /** Makes the next `n` submits throw. */
  failSubmits(n: number): void;
  /** The next `n` submits are refused as over the prompt cap (QuotaExceededError). */
  refuseSubmits(n: number): void;
  /** Called on each accepted submit (e.g. to answer it). */
  onSubmit?: (message: InboundMessage) => void;
  stop(): Promise<void>;
}

export function recordingLogger(logs: LogEntry[]): Logger {
  const log =
    (level: LogEntry["level"]) =>
    (obj: object, msg?: string): void => {
      logs.push({ level, obj: obj as Record<string, unknown>, msg: msg ?? "" });
    };
  return { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") };
}

export async function startHarness(options: Partial<TelegramChannelOptions> = {}, fakeOptions: FakeTelegramOptions = {}): Promise<Harness> {
  const fake = await startFakeTelegram(fakeOptions);
  const channel = createTelegramChannel({
    token: fake.token,
    apiRoot: fake.apiRoot,
    allowedUserIds: [OWNER.userId],
    previewIntervalMs: 100,
    typingIntervalMs: 100,
    pollTimeoutSeconds: 1,
    retryBaseMs: 50,
    retryMaxMs: 400,
    // No spacing between calls (Telegram's 1 s per chat would slow every test); one test keeps the default.
    throttle: { global: {}, group: {}, out: {} },
    ...options,
  });
  const seen = new Set<string>();
  let failing = 0;
  let refusing = 0;
  const harness: Harness = {
    fake,
    channel,
    submits: [],
    attempts: [],
    controlCalls: [],
    logs: [],
    status: { state: "idle", queue: { human: 1, event: 0, heartbeat: 0 }, processed: 7, lastHeartbeat: null, sessionFile: "/tmp/session.jsonl" },
    failSubmits(n) {
      failing = n;
    },
    refuseSubmits(n) {
      refusing = n;
    },
    stop: async () => {
      await channel.stop();
      await fake.close();
    },
  };
  const commands: CommandSink = {
    async submit(message) {
      harness.attempts.push(message);
      if (failing > 0) {
        failing--;
        throw new Error("queue unavailable");
      }
      if (refusing > 0) {
        refusing--;
        throw new QuotaExceededError("too many prompts waiting: this client has 20 queued (GATEWAY_PROMPTS_PER_CLIENT); wait for their replies");
      }
      const duplicate = seen.has(message.id);
      seen.add(message.id);
      harness.submits.push({ ...message, duplicate });
      if (!duplicate) harness.onSubmit?.(message);
      return { status: duplicate ? "duplicate" : "queued", requestId: message.id };
    },
  };
  const control: DaemonControl = {
    async status() {
      harness.controlCalls.push("status");
      return harness.status;
    },
    async abort() {
      harness.controlCalls.push("abort");
    },
    async newSession() {
      harness.controlCalls.push("newSession");
    },
  };
  await channel.start({ commands, control, logger: recordingLogger(harness.logs) });
  await waitFor(() => fake.polling, "the channel's first long poll");
  return harness;
}

/** Plays an agent turn through channel.deliver: start, the text in `pieces` deltas, end. */
export async function answer(
  channel: Channel,
  to: string,
  requestId: string,
  text: string,
  options: { pieces?: number; gapMs?: number; endText?: string } = {},
): Promise<void> {
  const pieces = options.pieces ?? 0;
  const send = (event: ReplyEvent): Promise<void> => channel.deliver(to, event);
  await send({ type: "start", requestId });
  if (pieces > 0) {
    const size = Math.ceil(text.length / pieces);
    for (let i = 0; i < text.length; i += size) {
      await send({ type: "delta", requestId, text: text.slice(i, i + size) });
      if (options.gapMs) await sleep(options.gapMs);
    }
  }
  await send({ type: "end", requestId, text: options.endText ?? text });
}

/** Waits until the fake has seen a getUpdates confirming everything up to `updateId`. */
export async function waitConfirmed(fake: FakeTelegram, updateId: number): Promise<void> {
  await waitFor(() => fake.calls("getUpdates").some((call) => Number(call.params.offset ?? 0) > updateId), `getUpdates confirming update ${updateId}`);
}
