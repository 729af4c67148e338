/**
 * The gateway's tools for the agent, the same in the extension (`pi.registerTool`) and in the
 * daemon (the SDK's `customTools`): notify the owner, durable schedules, messages between sessions.
 */
import { ToolFailure, TOOL_REDIS_TIMEOUT_MS, withGateway, type GatewayToolContext } from "./context.js";
import { notifyTool } from "./notify.js";
import { piTool, type AnyPiTool } from "./pi-tool.js";
import { scheduleTool, schedulesTool, unscheduleTool } from "./schedule.js";
import { SESSION_MESSAGE_TYPE, sendTool, sessionsTool } from "./sessions.js";

export { ToolFailure, TOOL_REDIS_TIMEOUT_MS, withGateway, SESSION_MESSAGE_TYPE, type GatewayToolContext, type AnyPiTool };

/** Every gateway tool as a pi ToolDefinition, bound to `ctx`. */
export function gatewayTools(ctx: GatewayToolContext): AnyPiTool[] {
  return [
    piTool(notifyTool(ctx), ctx),
    piTool(scheduleTool(ctx), ctx),
    piTool(schedulesTool(ctx), ctx),
    piTool(unscheduleTool(ctx), ctx),
    piTool(sendTool(ctx), ctx),
    piTool(sessionsTool(ctx), ctx),
  ];
}

export const GATEWAY_TOOL_NAMES = [
  "gateway_notify",
  "gateway_schedule",
  "gateway_schedules",
  "gateway_unschedule",
  "gateway_send",
  "gateway_sessions",
] as const;
