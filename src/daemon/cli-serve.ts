/**
 * The running daemon (tier 4): the agent, its channels (WebSocket, Telegram), the HTTP API and the
 * web page, until SIGINT/SIGTERM. Loaded by cli.ts once the settings and Redis are known good.
 */
import { homedir } from "node:os";
import { dirname } from "node:path";
import { createHttpApp } from "../channels/http/app.js";
import { startHttpServer } from "../channels/http/server.js";
import { createTelegramChannel } from "../channels/telegram/index.js";
import { createWebSocketChannel } from "../channels/websocket/server.js";
import type { GatewayBus } from "../bus/bus.js";
import type { BusOptions } from "../config/bus-options.js";
import { gatewayConfigDir } from "../config/env-file.js";
import { resolveSessionOptions } from "../config/session-options.js";
import type { DaemonRedis } from "../setup/embedded-redis.js";
import type { Logger } from "../util/logger.js";
import { mountWebRoutes } from "../web/assets.js";
import { watchLiveHeap } from "../util/live-heap.js";
import { DaemonMetrics } from "./metrics.js";
import type { DaemonSettings } from "./config.js";
import { GatewayDaemon } from "./daemon.js";
import { tightenModes } from "./private-state.js";
import type { Channel, DaemonObserver } from "./types.js";

export interface DaemonFlags {
  host?: string;
  port?: string;
  cwd?: string;
  takeover?: boolean;
}

/** The HTTP API and the web page over a started daemon. */
function httpApp(daemon: GatewayDaemon, settings: DaemonSettings, metrics: DaemonMetrics, logger: Logger) {
  const status = async () => ({ daemon: await daemon.status(), bus: await daemon.bus.status() });
  const app = createHttpApp({
    bus: daemon.bus,
    token: settings.token,
    hooks: settings.hooks,
    hookConcurrency: settings.hookConcurrency,
    logger,
    status,
    metrics: () => metrics.text(status),
    history: (limit, before) => daemon.history(limit, before),
    ready: async () => daemon.readiness(),
  });
  mountWebRoutes(app);
  return app;
}

/** Runs the daemon and its HTTP server until SIGINT/SIGTERM (or the embedded Redis dies). */
export async function serve(flags: DaemonFlags, settings: DaemonSettings, bus: BusOptions, redis: DaemonRedis, logger: Logger): Promise<void> {
  const websocket = createWebSocketChannel({ token: settings.token, resumeGraceMs: settings.resumeGraceMs, logger });
  let lost: ((message: string) => void) | undefined;
  const liveHeap = watchLiveHeap();
  const metrics = new DaemonMetrics({ liveHeap: liveHeap.bytes });
  // The channel asks for the bus (pairing) only once polling runs, after daemon.start() connected it.
  const telegram = telegramChannel(settings, flags, () => daemon.bus as GatewayBus | undefined);
  const daemon: GatewayDaemon = createDaemon(flags, settings, bus, [websocket, ...telegram], logger, (message) => lost?.(message), metrics);
  await daemon.start();
  started(daemon, settings, metrics, logger);
  const app = httpApp(daemon, settings, metrics, logger);
  // A port in use must end the process: the started daemon's clients would otherwise keep it alive.
  const { host, port, token, allowedHosts, allowedOrigins } = settings;
  const server = await startHttpServer({ app, websocket, host, port, token, allowedHosts, allowedOrigins }).catch(async (error: Error) => {
    await daemon.stop();
    throw error;
  });
  logger.info({ url: server.url, token: settings.tokenSource, telegram: Boolean(settings.telegram) }, "listening");
  // One line on stdout for humans and scripts: where to connect.
  process.stdout.write(`pi-gateway daemon listening on ${server.url} (web page: ${server.url}/#token=<token from ${settings.tokenSource}>)\n`);

  await new Promise<void>((resolve) => {
    let stopping = false;
    const shutdown = (reason: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ reason }, "shutting down");
      // daemon.stop() ends within the grace whatever Redis does (shutdown.ts); this is only the
      // backstop should something outside it (a server socket, a native handle) still hold on.
      setTimeout(() => {
        process.stderr.write("pi-gateway daemon: shutdown overran its grace; exiting (the next start replays what was in progress)\n");
        process.exit(process.exitCode || 1);
      }, settings.shutdownGraceMs + 1_000).unref();
      void daemon
        .stop()
        .then((leftBehind) => {
          for (const note of leftBehind) process.stderr.write(`pi-gateway daemon: ${note}\n`);
          if (leftBehind.length) process.stderr.write("pi-gateway daemon: nothing is lost: unfinished work stays in Redis for the next start\n");
          liveHeap.stop();
          return Promise.race([server.close(), new Promise<void>((done) => setTimeout(done, 500).unref())]);
        })
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
    redis.embedded?.onUnexpectedExit((detail) => {
      // A service manager stopping the whole group (systemd's default KillMode) signals redis-server
      // and the daemon at once: expected then. Otherwise the daemon can do nothing without its
      // Redis: exit non-zero so the service manager restarts both.
      if (!stopping) {
        logger.error({ detail }, "embedded redis-server exited");
        process.stderr.write(`pi-gateway daemon: ${detail}; shutting down\n`);
        process.exitCode = 1;
        shutdown("embedded redis-server exited");
      }
      // The graceful stop writes to Redis (checkpoints, acks) and would wait for it forever.
      setTimeout(() => process.exit(), 3_000).unref();
    });
  });
}

/** Right after the daemon started: its state made private, Redis reconnects counted, a missing model said. */
function started(daemon: GatewayDaemon, settings: DaemonSettings, metrics: DaemonMetrics, logger: Logger): void {
  makeStatePrivate(daemon, settings, logger);
  daemon.bus.onReconnecting(() => metrics.redisReconnecting());
  // Said at start, not at the first prompt: the fix is outside the daemon (a login, a key, models.json).
  const modelProblem = daemon.agent.modelProblem();
  if (modelProblem) process.stderr.write(`pi-gateway daemon: ${modelProblem}\n`);
}

/** Transcripts and the config directory (token, env file), made private if an earlier run left them readable. */
function makeStatePrivate(daemon: GatewayDaemon, settings: DaemonSettings, logger: Logger): void {
  const sessionFile = daemon.agent.sessionFile;
  const roots = [...(sessionFile ? [dirname(sessionFile)] : []), gatewayConfigDir(homedir())];
  if (settings.tokenSource !== "GATEWAY_TOKEN") roots.push(settings.tokenSource);
  const { fixed, failed } = tightenModes(roots);
  if (fixed.length) logger.warn({ count: fixed.length, first: fixed.slice(0, 5) }, "state was readable by others; made private (mode 0700/0600)");
  for (const { path, error } of failed.slice(0, 5)) logger.warn({ path, err: error }, "could not make state private");
}

/** The Telegram channel; `bus` is the daemon's (for pairing), known once it has started. */
function telegramChannel(settings: DaemonSettings, flags: DaemonFlags, bus: () => GatewayBus | undefined): Channel[] {
  if (!settings.telegram) return [];
  const { token, apiRoot, allowedUserIds, allowedChatIds, filesDir, photoMaxBytes, fileMaxBytes, pairing } = settings.telegram;
  return [
    createTelegramChannel({
      token,
      apiRoot,
      allowedUserIds,
      allowedChatIds,
      filesDir,
      photoMaxBytes,
      fileMaxBytes,
      ...(pairing ? { pairing: { store: () => bus()?.pairing, limits: pairing } } : {}),
      replyFileDirs: [filesDir, flags.cwd ?? process.cwd()],
    }),
  ];
}

function createDaemon(
  flags: DaemonFlags,
  settings: DaemonSettings,
  bus: BusOptions,
  channels: Channel[],
  logger: Logger,
  onSessionLost: (message: string) => void,
  observer: DaemonObserver,
): GatewayDaemon {
  const session = resolveSessionOptions();
  return new GatewayDaemon({
    bus,
    sessionId: session.explicitId,
    takeover: flags.takeover,
    onSessionLost,
    cwd: flags.cwd ?? process.cwd(),
    channels,
    owner: settings.owner,
    turnTimeoutMs: settings.turnTimeoutMs,
    turnRetries: settings.turnRetries,
    turnRetryBackoffMs: settings.turnRetryBackoffMs,
    shutdownGraceMs: settings.shutdownGraceMs,
    agingMs: settings.agingMs,
    collectWindowMs: settings.collectWindowMs,
    turnMaxEvents: settings.turnMaxEvents,
    turnMaxBytes: settings.turnMaxBytes,
    turnShownEvents: settings.turnShownEvents,
    promptsPerClient: settings.promptsPerClient,
    promptsPerChannel: settings.promptsPerChannel,
    context: settings.context,
    heartbeatFile: session.heartbeatFile,
    queueModes: settings.queueModes,
    watchdogThresholdMs: session.watchdogThresholdMs,
    watchdogCheckMs: session.watchdogCheckMs,
    logger,
    observer,
  });
}
