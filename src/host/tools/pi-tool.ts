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
import { Value } from "typebox/value";
import { capText, escapeControls } from "../../util/text.js";
import { ToolFailure, type GatewayToolContext, type ToolReply } from "./context.js";

/** Longest error line the model gets: a message quoting a huge argument stays readable. */
const ERROR_MAX = 1_000;

/**
 * Control characters (a newline in an echoed id or path; C1 controls such as U+009B, a one-byte
 * CSI; bidi overrides) shown escaped, and the line cut: the message stays one short line.
 */
function oneLine(message: string): string {
  return capText(escapeControls(message), ERROR_MAX);
}

/**
 * The arguments checked against the tool's own schema before it runs: pi validates them in its
 * agent loop, but `execute` is reachable without that loop (the SDK, another extension, an older
 * pi), and `run` relies on the types. The message names each parameter and rule, never the value.
 */
function checkArguments<P extends TSchema>(tool: GatewayTool<P, unknown>, params: unknown): asserts params is Static<P> {
  if (Value.Check(tool.parameters, params)) return;
  const problems = [...Value.Errors(tool.parameters, params)].slice(0, 5).map((error) => {
    const missing = error.keyword === "required" ? (error.params as { requiredProperties?: string[] }).requiredProperties?.[0] : undefined;
    const where = missing ?? (error.instancePath.replace(/^\//, "").replace(/\//g, ".") || "arguments");
    return `${capText(where, 40)}: ${missing ? "is required" : error.message}`;
  });
  throw new ToolFailure(`invalid arguments for ${tool.name}: ${problems.join("; ")}`);
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
        checkArguments(tool, params);
        const reply = await tool.run(params, { cwd: extension?.cwd ?? process.cwd() });
        return { content: [{ type: "text", text: reply.text }], details: reply.details };
      } catch (error) {
        const message = error instanceof ToolFailure ? error.message : `${tool.name} failed: ${(error as Error)?.message ?? String(error)}`;
        const line = oneLine(message);
        ctx.logger().warn({ tool: tool.name, reason: line }, "gateway tool call refused");
        throw new Error(line);
      }
    },
  };
}
