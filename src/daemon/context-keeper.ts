/**
 * Keeps the embedded pi session's context inside the model's window (the rule is in
 * context-budget.ts): compacts before a turn that would pass the threshold, and turns a provider's
 * "context too long" error into one compaction and one retry, never into a reply. pi's own
 * auto-compaction is switched off for this session: it only reads the provider's usage, and its
 * overflow recovery resumes the turn on a timer after `prompt()` has already returned.
 */
import type { AgentSession } from "@mariozechner/pi-coding-agent";
import { GATEWAY_MESSAGE_TYPE } from "../host/gateway-message.js";
import type { Logger } from "../util/logger.js";
import { contextBudget, contextWindowOf, MIN_CONTEXT_WINDOW, shouldCompactBefore, type ContextBudget, type ContextSettings } from "./context-budget.js";
import { isContextOverflowError } from "./turn-recovery.js";

type PiSdk = typeof import("@mariozechner/pi-coding-agent");
type Message = AgentSession["messages"][number];

/** pi custom entry recording a turn taken out of the conversation because it could not fit. */
export const DROPPED_ENTRY_TYPE = "pi-gateway.dropped";

/** A request that does not fit the model even after compaction: dead-lettered with this reason, never retried. */
export class ContextOverflowError extends Error {}

export interface ContextEstimate {
  /** The whole request: system prompt, tools, conversation and the new prompt. */
  input: number;
  /** The conversation's messages alone (what a compaction can shrink). */
  conversation: number;
}

export class ContextKeeper {
  /** Compactions done by this process (the figure a load test reads from the log). */
  compactions = 0;
  budget: ContextBudget;
  /** Input estimate right after the last compaction: the next one waits for real growth. */
  private compactedAt: number | undefined;

  constructor(
    private readonly sdk: PiSdk,
    private readonly session: AgentSession,
    private readonly settings: ContextSettings,
    private readonly log: Logger,
  ) {
    this.budget = this.plan(contextWindowOf(settings, session.model?.contextWindow));
    // Without any model pi holds a placeholder (provider "unknown"): the no-model line says what to do, not this.
    const model = session.model?.provider === "unknown" ? undefined : session.model;
    if (!settings.contextWindow && model && !model.contextWindow) {
      log.warn({ window: this.budget.window }, "the model does not say its context window; assuming one (set GATEWAY_CONTEXT_WINDOW)");
    }
  }

  /**
   * Before a turn: compacts when the turn's input would pass the threshold (a person's prompt: the
   * higher human threshold) and a compaction can help; true when it did.
   */
  async beforeTurn(prompt: string, human = false): Promise<boolean> {
    const estimate = this.estimate(prompt);
    if (!shouldCompactBefore(this.budget, estimate.input, estimate.conversation, this.compactedAt, human)) return false;
    return this.compact("threshold", estimate.input);
  }

  /**
   * The provider refused the turn as too long: compact and go on with the same request once (pi's
   * `agent.continue()`, as pi's own recovery does: the request is already in the conversation).
   * Throws ContextOverflowError when nothing can be summarised or it overflows again.
   */
  async recoverOverflow(providerError: string): Promise<void> {
    const estimate = this.estimate("");
    this.log.warn(
      { err: providerError, estimate: estimate.input, window: this.budget.window },
      "the provider found the context too long; compacting and retrying once",
    );
    this.learnWindow(estimate.input);
    this.dropTrailingError();
    // Only what came before this turn's prompt can go into a summary that helps: a single prompt
    // too large for the window is not summarised (that request would be refused as well).
    const canSummarise = this.tokensBeforeLastPrompt() >= this.budget.minGrowthTokens;
    if (!canSummarise || !(await this.compact("overflow", estimate.input))) throw this.overflowError(estimate.input);
    this.dropTrailingError();
    await this.session.agent.continue();
    // pi records the continued turn's events through a promise queue, and may retry a transient
    // failure of it by itself (its retry setting), as it does after prompt(): wait for both.
    do await new Promise((resolve) => setTimeout(resolve, 20));
    while (this.session.isRetrying || this.session.isStreaming);
    const last = lastAssistant(this.session.messages);
    if (last?.stopReason === "error" && isContextOverflowError(last.errorMessage ?? "")) throw this.overflowError(this.estimate("").input);
  }

  /**
   * A turn that could not fit is taken out of the conversation, so it does not make every later turn
   * overflow too: the session moves back to where it was before the turn (pi's branch(); the turn
   * stays in the file on an abandoned branch) and a custom entry, never shown to the model, says why.
   */
  abandonTurn(leafBefore: string | null, requestId: string, reason: string): void {
    const manager = this.session.sessionManager;
    if (leafBefore) manager.branch(leafBefore);
    else manager.resetLeaf();
    manager.appendCustomEntry(DROPPED_ENTRY_TYPE, { requestId, reason });
    this.session.agent.state.messages = manager.buildSessionContext().messages;
    this.compactedAt = undefined;
  }

  estimate(prompt: string): ContextEstimate {
    const { estimateTokens } = this.sdk;
    const messages = this.session.messages;
    const conversation = messages.reduce((sum, m) => sum + estimateTokens(m), 0);
    const tools = this.session.agent.state.tools.map((t) => ({ name: t.name, description: t.description, parameters: t.parameters }));
    const overhead = chars4(this.session.systemPrompt) + chars4(JSON.stringify(tools));
    const byCharacters = conversation + overhead + chars4(prompt);
    const reported = this.reportedInput(messages);
    return { input: reported === undefined ? byCharacters : Math.max(byCharacters, reported + chars4(prompt)), conversation };
  }

  /** pi's compaction settings for a window: what the summary may take and what is kept. */
  private plan(window: number): ContextBudget {
    const budget = contextBudget(window, this.settings.compactAt);
    const { reserveTokens, keepRecentTokens } = budget;
    this.session.settingsManager.applyOverrides({ compaction: { enabled: false, reserveTokens, keepRecentTokens } });
    return budget;
  }

  /** The provider refused `tokens`: the model's real window is smaller than planned (wrong metadata). */
  private learnWindow(tokens: number): void {
    if (tokens >= this.budget.window || tokens < MIN_CONTEXT_WINDOW) return;
    this.log.warn(
      { planned: this.budget.window, now: tokens },
      "the model's context window is smaller than its metadata says; planning for what the provider refused (set GATEWAY_CONTEXT_WINDOW)",
    );
    this.budget = this.plan(tokens);
  }

  private tokensBeforeLastPrompt(): number {
    const messages = this.session.messages;
    const prompt = messages.findLastIndex(isPromptMessage);
    return messages.slice(0, Math.max(0, prompt)).reduce((sum, m) => sum + this.sdk.estimateTokens(m), 0);
  }

  private async compact(reason: "threshold" | "overflow", before: number): Promise<boolean> {
    try {
      await this.session.compact();
    } catch (error) {
      this.log.warn({ reason, err: (error as Error).message }, "compaction failed; the conversation stays as it is");
      return false;
    }
    this.compactions += 1;
    this.compactedAt = this.estimate("").input;
    this.log.info({ reason, before, after: this.compactedAt, window: this.budget.window, compactions: this.compactions }, "context compacted");
    return true;
  }

  /**
   * The provider's own count of the last request plus an estimate of what came after it. Only a
   * reply newer than the last compaction counts: kept older replies report the pre-compaction size.
   */
  private reportedInput(messages: Message[]): number | undefined {
    const since = lastCompactionTime(this.session);
    for (let i = messages.length - 1; i >= 0; i--) {
      const m = messages[i]!;
      if (m.role !== "assistant" || m.stopReason === "error" || m.stopReason === "aborted") continue;
      if (m.timestamp <= since) return undefined;
      const used = this.sdk.calculateContextTokens(m.usage);
      if (!used) return undefined;
      return used + messages.slice(i + 1).reduce((sum, later) => sum + this.sdk.estimateTokens(later), 0);
    }
    return undefined;
  }

  /** The refused reply is kept in the session file for the record, but not sent to the model again. */
  private dropTrailingError(): void {
    const messages = this.session.agent.state.messages;
    const last = messages.at(-1);
    if (last?.role === "assistant" && last.stopReason === "error") this.session.agent.state.messages = messages.slice(0, -1);
  }

  private overflowError(input: number): ContextOverflowError {
    return new ContextOverflowError(
      `the request does not fit the model's context window even after compacting the conversation (about ${input} tokens; planned window ${this.budget.window}): it was left out of the conversation; send less at once, or set GATEWAY_CONTEXT_WINDOW if the window is wrong`,
    );
  }
}

/** What opens a turn: a user message, or a gateway message (the model reads it as user content). */
export function isPromptMessage(message: Message): boolean {
  return message.role === "user" || (message.role === "custom" && message.customType === GATEWAY_MESSAGE_TYPE);
}

function chars4(text: string): number {
  return Math.ceil(text.length / 4);
}

function lastAssistant(messages: Message[]): Extract<Message, { role: "assistant" }> | undefined {
  const last = messages.findLast((m) => m.role === "assistant");
  return last?.role === "assistant" ? last : undefined;
}

function lastCompactionTime(session: AgentSession): number {
  const entry = session.sessionManager.getBranch().findLast((e) => e.type === "compaction");
  return entry ? new Date(entry.timestamp).getTime() : 0;
}
