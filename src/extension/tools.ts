/** The gateway tools in an interactive pi: registered at load, they use the running gateway's bus (or say it is not running). */
import type { ExtensionAPI } from "@mariozechner/pi-coding-agent";
import { gatewayTools } from "../host/tools/index.js";
import { silentLogger } from "../util/logger.js";
import type { GatewayRuntime } from "./runtime.js";

export function registerGatewayTools(pi: ExtensionAPI, runtime: () => GatewayRuntime | undefined): void {
  const tools = gatewayTools({
    bus: () => runtime()?.bus,
    // The bus exists once Redis first answered: meanwhile a tool waits its bounded time, as for a reconnect.
    connecting: () => runtime()?.connecting ?? false,
    // Known once the host exists: an automatic role becomes central or satellite when Redis first answers.
    sessionId: () => runtime()?.host?.session.sessionId,
    logger: () => runtime()?.log ?? silentLogger,
  });
  for (const tool of tools) pi.registerTool(tool);
}
