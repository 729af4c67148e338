/**
 * The pi-gateway extension for pi: brings gateway events into the session.
 *
 * Load it as a pi package (`pi install <path or npm:pi-gateway>`), with `pi -e <path>`, or list
 * the package in settings.json. Configure with environment variables: REDIS_URL, GATEWAY_ROLE
 * (central|satellite), GATEWAY_ID, GATEWAY_DELIVER_AS, GATEWAY_WATCHDOG_THRESHOLD ... (see README).
 */
import type { ExtensionAPI } from "@mariozechner/pi-coding-agent";
import { resolveBusOptions } from "../config/bus-options.js";
import { resolveSessionOptions } from "../config/session-options.js";
import { checkSetting, parseSetting } from "../config/resolve.js";
import { createLogger } from "../config/logging.js";
import { silentLogger } from "../util/logger.js";
import { GATEWAY_MESSAGE_TYPE } from "../host/gateway-message.js";
import { renderGatewayMessage } from "./renderer.js";
import { GatewayRuntime } from "./runtime.js";
import { registerGatewayTools } from "./tools.js";

export default function gatewayExtension(pi: ExtensionAPI): void {
  // The TUI shows a gateway message as one line per event, payloads collapsed (the LLM reads the
  // fenced prompt). Registered even when disabled: a resumed session's earlier messages stay readable.
  pi.registerMessageRenderer(GATEWAY_MESSAGE_TYPE, renderGatewayMessage);
  // The daemon's embedded pi sets it to "1"; a malformed value is reported at session start.
  if (checkSetting("GATEWAY_DISABLED", process.env.GATEWAY_DISABLED).value === true) return;
  let runtime: GatewayRuntime | undefined;
  registerGatewayTools(pi, () => runtime);

  pi.on("session_start", async (_event, ctx) => {
    await runtime?.stop();
    let settings;
    try {
      settings = resolveExtensionSettings();
    } catch (error) {
      // One line naming the variable; pi runs on without the gateway.
      ctx.ui.notify(`gateway disabled: ${(error as Error).message}`, "error");
      return;
    }
    const { busOptions, session, logFile } = settings;
    for (const warning of session.warnings) ctx.ui.notify(`gateway: ${warning}`, "warning");
    // Inside pi's TUI nothing may write to the terminal: logs go to a file, if asked for.
    const logger = logFile ? createLogger("pi-gateway-extension", { destination: logFile }) : silentLogger;
    runtime = new GatewayRuntime(pi, ctx, session, busOptions, logger);
    runtime.start();
  });

  // pi appends a message to the session right after its message_end handlers ran: look then.
  pi.on("message_end", () => {
    setImmediate(() => runtime?.injector.check());
  });

  pi.on("agent_end", (event) => {
    runtime?.onAgentEnd(event.messages);
  });

  pi.on("session_shutdown", async () => {
    await runtime?.stop();
    runtime = undefined;
  });

  pi.registerCommand("gateway", {
    description: "Gateway status: role, session id, connection, backlog, heartbeat and watchdog",
    handler: async (_args, ctx) => {
      ctx.ui.notify(runtime ? await runtime.describe() : "gateway: not running (GATEWAY_DISABLED=1 or no session)", "info");
    },
  });
}

/** Everything the extension reads from the environment; throws a ConfigError for a bad value. */
function resolveExtensionSettings() {
  parseSetting("GATEWAY_DISABLED", process.env.GATEWAY_DISABLED);
  return { busOptions: resolveBusOptions(), session: resolveSessionOptions(), logFile: parseSetting("GATEWAY_LOG_FILE", process.env.GATEWAY_LOG_FILE) };
}
