/**
 * A fake-LLM responder that plays scripted tool calls: a turn whose last user message contains a
 * script's key gets that script's first reply; the request after its tool results gets the next.
 * Tool call ids carry the script and the step (`<key>__<step>__<n>`), so several sessions sharing
 * one fake LLM each follow their own script.
 */
import type { ChatMessage, FakeLlmRequest, FakeReply, FakeToolCall, Responder } from "./fake-llm.js";

export type Step = { text: string } | { calls: Array<Omit<FakeToolCall, "id">> };

export function toolScript(scripts: Record<string, Step[]>): Responder {
  return (request) => {
    const last = request.body.messages?.at(-1);
    if (last?.role === "tool") {
      const match = /^(.+?)__(\d+)__\d+$/.exec(last.tool_call_id ?? "");
      if (match && scripts[match[1]!]) return reply(match[1]!, Number(match[2]) + 1, scripts[match[1]!]!);
      return { text: "done" };
    }
    const key = Object.keys(scripts).find((k) => request.lastUserText.includes(k));
    return key ? reply(key, 0, scripts[key]!) : { text: "ok" };
  };
}

function reply(key: string, step: number, script: Step[]): FakeReply {
  const next = script[step];
  if (!next) return { text: `${key} finished` };
  if ("text" in next) return { text: next.text };
  return { toolCalls: next.calls.map((call, n) => ({ ...call, id: `${key}__${step}__${n}` })) };
}

/** The text of the tool results of a request, by tool call id. */
export function toolResults(request: FakeLlmRequest): Map<string, string> {
  const results = new Map<string, string>();
  for (const message of request.body.messages ?? []) {
    if (message.role === "tool") results.set(message.tool_call_id ?? "", textOf(message));
  }
  return results;
}

function textOf(message: ChatMessage): string {
  if (typeof message.content === "string") return message.content;
  return (message.content ?? []).map((p) => p.text ?? "").join("");
}

/** The names of the tools a request offered the model. */
export function offeredTools(request: FakeLlmRequest): string[] {
  return (request.body.tools ?? []).map((t) => (t as { function?: { name?: string } }).function?.name ?? "?");
}
