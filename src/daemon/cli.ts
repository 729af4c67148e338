/** `pi-gateway daemon`: the full gateway (tier 4) in the foreground; a service manager keeps it up. */
import type { Command } from "commander";
import { createHttpApp } from "../channels/http/app.js";
import { startHttpServer } from "../channels/http/server.js";
import { createTelegramChannel } from "../channels/telegram/index.js";
import { createWebSocketChannel } from "../channels/websocket/server.js";
import { action, busOverrides, globalOptions, usage, UsageError } from "../cli/context.js";
import { resolveBusOptions } from "../config/bus-options.js";
import { resolveSessionOptions } from "../config/session-options.js";
import { chooseLogFormat, createLogger } from "../util/logger.js";
import { mountWebRoutes } from "../web/assets.js";
import { resolveDaemonSettings, DAEMON_ENV_VARS } from "./config.js";
import { GatewayDaemon } from "./daemon.js";
import type { Channel } from "./types.js";

interface DaemonFlags {
  host?: string;
  port?: string;
  cwd?: string;
  takeover?: boolean;
}

export function registerDaemon(program: Command): void {
  program
    .command("daemon")
    .description("run the full gateway: embedded pi, command queue, Telegram, WebSocket, webhooks and the web page")
    .option("--host <host>", "address to listen on (default: $GATEWAY_HOST or 127.0.0.1, loopback only)")
    .option("--port <port>", "port (default: $GATEWAY_PORT or 8787; 0 picks a free one)")
    .option("--cwd <dir>", "working directory of the agent (default: the current one)")
    .option(
      "--takeover",
      "take the session id ($GATEWAY_ID or gateway) even while another daemon or central pi holds it; that one stops draining at once (without it, a held id makes the daemon exit 1 naming the holder)",
    )
    .addHelpText("after", `\nEnvironment: ${DAEMON_ENV_VARS.join(", ")}`)
    .action(
      action(async (flags: DaemonFlags, command: Command) => {
        const options = globalOptions(command);
        const logProblem = chooseLogFormat(false).problem;
        if (logProblem) throw new UsageError(logProblem);
        const logger = createLogger("pi-gateway-daemon");
        // Bad settings are usage errors (exit 2), found before anything starts.
        const settings = usage(() => resolveDaemonSettings(process.env, flags));
        const session = resolveSessionOptions();
        const bus = resolveBusOptions(busOverrides(options));

        const websocket = createWebSocketChannel({ token: settings.token, logger });
        const channels: Channel[] = [websocket];
        if (settings.telegram) {
          channels.push(
            createTelegramChannel({
              token: settings.telegram.token,
              apiRoot: settings.telegram.apiRoot,
              allowedUserIds: settings.telegram.allowedUserIds,
              allowedChatIds: settings.telegram.allowedChatIds,
            }),
          );
        }
        let lost: ((message: string) => void) | undefined;
        const daemon = new GatewayDaemon({
          bus,
          sessionId: session.explicitId,
          takeover: flags.takeover,
          onSessionLost: (message) => lost?.(message),
          cwd: flags.cwd ?? process.cwd(),
          channels,
          owner: settings.owner,
          turnTimeoutMs: settings.turnTimeoutMs,
          turnRetries: settings.turnRetries,
          turnRetryBackoffMs: settings.turnRetryBackoffMs,
          shutdownGraceMs: settings.shutdownGraceMs,
          agingMs: settings.agingMs,
          collectWindowMs: settings.collectWindowMs,
          heartbeatFile: session.heartbeatFile,
          queueModes: settings.queueModes,
          watchdogThresholdMs: session.watchdogThresholdMs,
          watchdogCheckMs: session.watchdogCheckMs,
          logger,
        });
        await daemon.start();
        const app = createHttpApp({
          bus: daemon.bus,
          token: settings.token,
          hooks: settings.hooks,
          logger,
          status: async () => ({ daemon: await daemon.status(), bus: await daemon.bus.status() }),
          history: (limit, before) => daemon.history(limit, before),
          ready: async () => (daemon.ready() ? true : { ready: false, reason: "agent or Redis not ready" }),
        });
        mountWebRoutes(app);
        const server = await startHttpServer({ app, websocket, host: settings.host, port: settings.port, token: settings.token });
        logger.info({ url: server.url, token: settings.tokenSource, telegram: Boolean(settings.telegram) }, "listening");
        // One line on stdout for humans and scripts: where to connect.
        process.stdout.write(`pi-gateway daemon listening on ${server.url} (web page: ${server.url}/#token=<token from ${settings.tokenSource}>)\n`);

        await new Promise<void>((resolve) => {
          const shutdown = (signal: string) => {
            logger.info({ signal }, "shutting down");
            void daemon
              .stop()
              .then(() => server.close())
              .then(resolve, (error: Error) => {
                logger.error({ err: error.message }, "shutdown failed");
                resolve();
              });
          };
          process.once("SIGINT", () => shutdown("SIGINT"));
          process.once("SIGTERM", () => shutdown("SIGTERM"));
          // Displaced by another owner (`--takeover`): never keep running next to it.
          lost = (message) => {
            process.stderr.write(`pi-gateway: ${message}\n`);
            process.exitCode = 1;
            shutdown("session taken over");
          };
        });
      }),
    );
}
