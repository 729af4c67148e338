/**
 * A gateway tool as pi takes it (a ToolDefinition for `pi.registerTool` or the SDK's
 * `customTools`): the tool's `run` with every failure turned into one line for the model.
 *
 * pi marks a tool result as an error (`isError: true`, shown to the model and in the UI) only when
 * `execute` throws; pi's agent loop catches that and the turn goes on. So the adapter throws a plain
 * Error carrying the one-line message, and nothing else: no stack trace, no Redis error object.
 */
import type { AgentToolResult, ExtensionContext, ToolDefinition } from "@mariozechner/pi-coding-agent";
import type { Static, TSchema } from "typebox";
import { ToolFailure, type GatewayToolContext, type ToolReply } from "./context.js";

/** Control characters (a newline in an echoed id or path) shown escaped: the message stays one line. */
function oneLine(message: string): string {
  // eslint-disable-next-line no-control-regex -- exactly the characters to escape
  return message.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1));
}

export interface GatewayTool<P extends TSchema, D> {
  name: string;
  label: string;
  description: string;
  /** The one line pi lists under "Available tools" in its system prompt. */
  promptSnippet: string;
  parameters: P;
  /** Does the work; throws ToolFailure (or any Error) when it cannot. `cwd`: the session's working directory. */
  run(params: Static<P>, call: { cwd: string }): Promise<ToolReply<D>>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- pi's own list type for mixed tools
export type AnyPiTool = ToolDefinition<any, any>;

export function piTool<P extends TSchema, D>(tool: GatewayTool<P, D>, ctx: GatewayToolContext): ToolDefinition<P, D> {
  return {
    name: tool.name,
    label: tool.label,
    description: tool.description,
    promptSnippet: tool.promptSnippet,
    parameters: tool.parameters,
    async execute(_toolCallId: string, params: Static<P>, _signal, _onUpdate, extension: ExtensionContext | undefined): Promise<AgentToolResult<D>> {
      try {
        const reply = await tool.run(params, { cwd: extension?.cwd ?? process.cwd() });
        return { content: [{ type: "text", text: reply.text }], details: reply.details };
      } catch (error) {
        const message = error instanceof ToolFailure ? error.message : `${tool.name} failed: ${(error as Error)?.message ?? String(error)}`;
        ctx.logger().warn({ tool: tool.name, reason: message }, "gateway tool call refused");
        throw new Error(oneLine(message));
      }
    },
  };
}
