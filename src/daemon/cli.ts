/**
 * `pi-gateway daemon`: the full gateway (tier 4) in the foreground; a service manager keeps it up.
 * Settings and Redis are checked here, before the daemon's own modules (pi, the channels, the web
 * page) are loaded by cli-serve.ts: a wrong setting or a missing Redis is said at once.
 */
import type { Command } from "commander";
import { RedisUnreachableError } from "../bus/errors.js";
import { action, busOverrides, globalOptions, usage, UsageError } from "../cli/context.js";
import { resolveBusOptions } from "../config/bus-options.js";
import { parseSetting } from "../config/resolve.js";
import { daemonRedis } from "../setup/embedded-redis.js";
import { chooseLogFormat, createLogger } from "../config/logging.js";
import { daemonBatchSize, resolveDaemonSettings, DAEMON_CLAIM_MAX_BYTES, DAEMON_ENV_VARS } from "./config.js";
import { PRIVATE_UMASK } from "./private-state.js";
import type { DaemonFlags } from "./cli-serve.js";

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
        // Before anything is written (the token file, transcripts, logs): only this user reads them.
        process.umask(PRIVATE_UMASK);
        // Bad settings are usage errors (exit 2), found before anything starts.
        const settings = usage(() => resolveDaemonSettings(process.env, flags));
        if (settings.tokenFileFixed) {
          logger.warn({ fixed: settings.tokenFileFixed }, "token file was readable by others");
          process.stderr.write(`pi-gateway daemon: ${settings.tokenFileFixed}\n`);
        }
        const overrides = { ...busOverrides(options), batchSize: daemonBatchSize(process.env), claimMaxBytes: DAEMON_CLAIM_MAX_BYTES };
        resolveBusOptions(overrides); // REDIS_URL and the other bus settings are checked here, before any connection
        // First lines on the terminal: which Redis, and whether the daemon started its own.
        const explicitUrl = overrides.redisUrl ?? parseSetting("REDIS_URL", process.env.REDIS_URL);
        const redis = await daemonRedis(explicitUrl, (line) => process.stdout.write(`${line}\n`));
        try {
          const { serve } = await import("./cli-serve.js");
          await serve(flags, settings, resolveBusOptions({ ...overrides, redisUrl: redis.url }), redis, logger);
        } catch (error) {
          if (explicitUrl && error instanceof RedisUnreachableError) {
            const source = options.redisUrl ? "--redis-url" : "REDIS_URL";
            throw error.withNote(`set by ${source}; the daemon starts its own redis-server only when neither is set`);
          }
          throw error;
        } finally {
          await redis.embedded?.stop();
        }
      }),
    );
}
