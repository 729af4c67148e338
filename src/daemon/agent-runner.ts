/**
 * The embedded pi: one SDK session (persisted to disk and resumed on restart), run one command at a
 * time. Turns pi's session events into ReplyEvents for the outbound router.
 */
import { statSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { join } from "node:path";
import type { AgentSession, AgentSessionEvent, ExtensionAPI } from "@mariozechner/pi-coding-agent";
import { GATEWAY_MESSAGE_TYPE, type GatewayMessageDetails } from "../host/gateway-message.js";
import { textOf } from "../host/message-text.js";
import type { AnyPiTool } from "../host/tools/index.js";
import type { Logger } from "../util/logger.js";
import { DEFAULT_COMPACT_AT, type ContextSettings } from "./context-budget.js";
import { correctCompactionCut } from "./compaction-cut.js";
import { ContextKeeper, ContextOverflowError, isPromptMessage } from "./context-keeper.js";
import { isContextOverflowError } from "./turn-recovery.js";
import { ORIGIN_ENTRY_TYPE, pageHistoryAcross, type HistoryItem, type TurnOrigin } from "./history.js";
import { answeredInSession, heldEventIds } from "./session-record.js";
import { historySegment, writeContinuedSession } from "./session-rotation.js";
import type { InboundImage, ReplyEvent } from "./types.js";

type PiSdk = typeof import("@mariozechner/pi-coding-agent");

export interface AgentRunnerOptions {
  cwd: string;
  /** pi's agent dir (models, settings, sessions); default: $PI_CODING_AGENT_DIR or ~/.pi/agent. */
  agentDir?: string;
  /** Context window override and compaction threshold (context-budget.ts); default: the model's window, 0.7. */
  context?: ContextSettings;
  logger: Logger;
  /** Tools given to pi besides its own (the gateway tools, src/host/tools). */
  tools?: AnyPiTool[];
}

export interface TurnResult {
  text: string;
  aborted: boolean;
}

/**
 * What the daemon says when pi has no model it can use (no models.json provider, no API key, not
 * logged in): one line with the ways out, instead of pi's interactive `/login` hint per prompt.
 */
export function noModelMessage(agentDir: string, model?: string): string {
  const why = model ? ` (${model} has no API key or login)` : "";
  return `no model available${why}: run \`pi\` then \`/login\`, or set an API key such as ANTHROPIC_API_KEY / OPENAI_API_KEY, or configure ${join(agentDir, "models.json")}`;
}

/** No turn can run: pi has no usable model or credentials (the message says how to fix it). */
export class NoModelError extends Error {
  override name = "NoModelError";
}

export class AgentRunner {
  private sdk: PiSdk | undefined;
  private session: AgentSession | undefined;
  private keeper: ContextKeeper | undefined;
  private agentDir = "";
  /** Compactions of the sessions this process ran before the current one (continued files). */
  private earlierCompactions = 0;

  constructor(private readonly options: AgentRunnerOptions) {}

  /** The context window the session plans for (tokens), once started. */
  get contextWindow(): number | undefined {
    return this.keeper?.budget.window;
  }

  get sessionFile(): string | undefined {
    return this.session?.sessionFile;
  }

  get busy(): boolean {
    return this.session?.isStreaming ?? false;
  }

  /** Resumes the most recent session for the working directory (or `file`), or starts one (`fresh`). */
  async start(open: "recent" | "fresh" | { file: string } = "recent"): Promise<void> {
    this.sdk ??= await loadSdk();
    const { SessionManager, SettingsManager, DefaultResourceLoader, createAgentSession, getAgentDir } = this.sdk;
    const cwd = this.options.cwd;
    const agentDir = this.options.agentDir ?? getAgentDir();
    this.agentDir = agentDir;
    // The daemon consumes gateway events itself: the pi-gateway extension, if the user's settings
    // load it, must not also drain them inside this embedded session.
    process.env.GATEWAY_DISABLED = "1";
    const settingsManager = SettingsManager.create(cwd, agentDir);
    const sdk = this.sdk;
    // Gateway messages count when pi chooses what a compaction keeps (compaction-cut.ts).
    const compactionCut = (pi: ExtensionAPI) => pi.on("session_before_compact", (event) => correctCompactionCut(sdk, event));
    const resourceLoader = new DefaultResourceLoader({ cwd, agentDir, settingsManager, extensionFactories: [compactionCut] });
    await resourceLoader.reload();
    const { session, extensionsResult } = await createAgentSession({
      cwd,
      agentDir,
      settingsManager,
      resourceLoader,
      customTools: this.options.tools,
      sessionManager: open === "fresh" ? SessionManager.create(cwd) : open === "recent" ? SessionManager.continueRecent(cwd) : SessionManager.open(open.file),
    });
    for (const error of extensionsResult.errors) this.options.logger.warn({ path: error.path, err: error.error }, "pi extension failed to load");
    await session.bindExtensions({ onError: (error) => this.options.logger.warn({ err: String(error.error), event: error.event }, "pi extension error") });
    this.session = session;
    this.keeper = new ContextKeeper(this.sdk, session, this.options.context ?? { compactAt: DEFAULT_COMPACT_AT }, this.options.logger);
    const { window, threshold } = this.keeper.budget;
    this.options.logger.info({ sessionFile: session.sessionFile, model: session.model?.id, contextWindow: window, compactAt: threshold }, "pi session ready");
  }

  /** Why no turn can run (no model, or a model without credentials), or undefined when one can. */
  modelProblem(): string | undefined {
    const session = this.session;
    if (!session) return undefined;
    // Without any model pi's agent holds a placeholder whose provider is "unknown".
    const model = session.model?.provider === "unknown" ? undefined : session.model;
    if (model && session.modelRegistry.hasConfiguredAuth(model)) return undefined;
    return noModelMessage(this.agentDir, model ? `${model.provider}/${model.id}` : undefined);
  }

  /**
   * Throws the no-model message before pi is prompted (pi's own error is a multi-line `/login`
   * hint meant for its terminal). Looks again first: the user may have run `/login` or edited
   * models.json since, which a fresh session picks up.
   */
  private async ensureModel(): Promise<void> {
    if (!this.modelProblem()) return;
    this.session?.dispose();
    this.session = undefined;
    await this.start();
    const problem = this.modelProblem();
    if (problem) throw new NoModelError(problem);
  }

  /**
   * Runs one prompt to the end of its turn, streaming events; resolves with the final reply text.
   * The origin is recorded in the session just before the prompt (see history.ts), never shown to the model.
   * With `gateway` details (events, heartbeats, alarms) the text enters as a gateway custom message
   * carrying them (the model reads it as user content); without, as a user message.
   */
  async run(
    requestId: string,
    text: string,
    onEvent: (event: ReplyEvent) => void,
    origin?: TurnOrigin,
    gateway?: GatewayMessageDetails,
    images?: InboundImage[],
  ): Promise<TurnResult> {
    await this.ensureModel();
    const keeper = this.requireKeeper();
    // Before the origin entry: that entry belongs right before the prompt it describes.
    if (await keeper.beforeTurn(text, origin?.kind === "prompt")) await this.continueIfLarge();
    const session = this.requireSession();
    const leafBefore = session.sessionManager.getLeafId();
    if (origin) session.sessionManager.appendCustomEntry(ORIGIN_ENTRY_TYPE, origin);
    let aborted = false;
    const unsubscribe = session.subscribe((event: AgentSessionEvent) => {
      if (event.type === "message_update" && event.assistantMessageEvent.type === "text_delta") {
        onEvent({ type: "delta", requestId, text: event.assistantMessageEvent.delta });
      } else if (event.type === "tool_execution_start") {
        onEvent({ type: "tool", requestId, name: event.toolName, phase: "start" });
      } else if (event.type === "tool_execution_end") {
        onEvent({ type: "tool", requestId, name: event.toolName, phase: "end", isError: event.isError });
      } else if (event.type === "message_end" && event.message.role === "assistant" && event.message.stopReason === "aborted") {
        aborted = true;
      }
    });
    // Counted after a compaction, which replaces the messages: the turn's own come after this.
    let before = session.messages.length;
    try {
      await this.send(session, text, gateway, images);
      const failed = session.messages.at(-1);
      if (failed?.role === "assistant" && failed.stopReason === "error" && isContextOverflowError(failed.errorMessage ?? "")) {
        await keeper.recoverOverflow(failed.errorMessage ?? "").catch((error: Error) => {
          if (error instanceof ContextOverflowError) keeper.abandonTurn(leafBefore, requestId, error.message);
          throw error;
        });
        // The compaction replaced the messages; this turn's replies follow its prompt, the last one.
        before = session.messages.findLastIndex(isPromptMessage) + 1;
      }
    } finally {
      unsubscribe();
    }
    const replies = session.messages.slice(before).filter((m) => m.role === "assistant");
    const texts = replies.map((m) => textOf(m.content)).filter((t) => t.trim());
    const last = replies.at(-1);
    if (last && last.role === "assistant" && last.stopReason === "error") {
      throw new Error(last.errorMessage ?? "the model returned an error");
    }
    return { text: texts.at(-1) ?? "", aborted };
  }

  /**
   * A gateway message starts its turn (pi's sendCustomMessage with triggerTurn), then the run waits
   * as `prompt()` does for pi's own retry of a transient failure; anything else is a user prompt
   * (with its pictures, a Telegram photo).
   */
  private async send(session: AgentSession, text: string, gateway: GatewayMessageDetails | undefined, images: InboundImage[] | undefined): Promise<void> {
    if (!gateway) return session.prompt(text, { source: "rpc", expandPromptTemplates: false, ...(images?.length ? { images: imageContent(images) } : {}) });
    await session.sendCustomMessage(gatewayMessage(text, gateway), { triggerTurn: true, deliverAs: "followUp" });
    while (session.isRetrying || session.isStreaming) await sleep(20);
  }

  /** Adds a message to the running turn (steer mode); its origin is recorded for the message it becomes. */
  async steer(text: string, origin?: TurnOrigin, gateway?: GatewayMessageDetails, images?: InboundImage[]): Promise<void> {
    const session = this.requireSession();
    if (origin) session.sessionManager.appendCustomEntry(ORIGIN_ENTRY_TYPE, origin);
    if (gateway) await session.sendCustomMessage(gatewayMessage(text, gateway), { deliverAs: "steer" });
    else await session.steer(text, images?.length ? imageContent(images) : undefined);
  }

  /** The reply of a finished turn the session holds for these commands (session-record.ts), if any. */
  answeredInSession(requestIds: string[]): string | undefined {
    return this.session ? answeredInSession(this.session.sessionManager.getBranch(), requestIds) : undefined;
  }

  /** Which of these event ids a gateway message of the session already records (session-record.ts). */
  heldEventIds(ids: string[]): Set<string> {
    return this.session ? heldEventIds(this.session.sessionManager.getBranch(), ids) : new Set();
  }

  /**
   * A page of the conversation (oldest first), across the files this session continued; undefined
   * when `before` names no item. Empty before the session started.
   */
  history(limit: number, before?: string): { items: HistoryItem[]; more: boolean } | undefined {
    if (!this.sdk || !this.session) return before === undefined ? { items: [], more: false } : undefined;
    return pageHistoryAcross(historySegment(this.sdk, this.session.sessionManager.getBranch()), limit, before);
  }

  /**
   * After a compaction: a session file past GATEWAY_SESSION_FILE_MAX is continued in a new file
   * holding only what the model still sees (session-rotation.ts), and the session is reopened from
   * it, so neither the file nor pi's in-memory copy of it grows with everything the session ever saw.
   */
  private async continueIfLarge(): Promise<void> {
    const session = this.requireSession();
    const max = this.options.context?.sessionFileMax;
    const from = session.sessionFile;
    const bytesBefore = from ? fileSize(from) : 0;
    if (!max || !from || bytesBefore <= max) return;
    const file = writeContinuedSession(this.requireSdk(), session.sessionManager);
    if (!file) return;
    this.earlierCompactions += this.keeper?.compactions ?? 0;
    session.dispose();
    this.session = undefined;
    this.keeper = undefined;
    await this.start({ file });
    this.options.logger.info({ from, to: file, bytesBefore, bytesAfter: fileSize(file), max }, "session file continued in a new file");
  }

  async abort(): Promise<void> {
    if (this.session?.isStreaming) await this.session.abort();
  }

  /** A fresh session file; the previous one stays on disk. */
  async newSession(): Promise<void> {
    await this.abort();
    this.session?.dispose();
    this.session = undefined;
    this.keeper = undefined;
    await this.start("fresh");
  }

  async stop(): Promise<void> {
    this.session?.dispose();
    this.session = undefined;
  }

  /** Compactions this process has done (figures for tests and logs). */
  get compactions(): number {
    return this.earlierCompactions + (this.keeper?.compactions ?? 0);
  }

  private requireKeeper(): ContextKeeper {
    if (!this.keeper) throw new Error("pi session is not running");
    return this.keeper;
  }

  private requireSdk(): PiSdk {
    if (!this.sdk) throw new Error("pi session is not running");
    return this.sdk;
  }

  private requireSession(): AgentSession {
    if (!this.session) throw new Error("pi session is not running");
    return this.session;
  }
}

/** A gateway message for pi: the prompt the model reads, the details the renderers and dedup read. */
function gatewayMessage(text: string, details: GatewayMessageDetails) {
  return { customType: GATEWAY_MESSAGE_TYPE, content: text, display: true, details };
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

async function loadSdk(): Promise<PiSdk> {
  try {
    return await import("@mariozechner/pi-coding-agent");
  } catch (error) {
    throw new Error(
      `pi-gateway daemon embeds pi, which is not installed here (${(error as Error).message.split("\n")[0]}): npm install @mariozechner/pi-coding-agent`,
    );
  }
}

/** pi's image content for the pictures a command carries. */
function imageContent(images: InboundImage[]): Array<{ type: "image"; data: string; mimeType: string }> {
  return images.map((image) => ({ type: "image" as const, data: image.data, mimeType: image.mimeType }));
}
