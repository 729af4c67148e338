#!/usr/bin/env node
/** The `pi-gateway` command line. */
import { Command, CommanderError } from "commander";
import { BUS_ENV_VARS } from "../config/bus-options.js";
import { registerChat } from "./commands/chat.js";
import { registerConfig } from "./commands/config.js";
import { registerDeadLetters } from "./commands/dead-letters.js";
import { registerNotify } from "./commands/notify.js";
import { registerPair } from "./commands/pair.js";
import { registerPush } from "./commands/push.js";
import { registerSchedule } from "./commands/schedule.js";
import { registerSessions } from "./commands/sessions.js";
import { registerStatus } from "./commands/status.js";
import { registerTail } from "./commands/tail.js";
import { registerHeartbeat } from "../heartbeat/cli.js";
import { registerSetup } from "../setup/cli.js";
import { registerDoctor } from "../doctor/cli.js";
import { registerDaemon } from "../daemon/cli.js";
import { registerSecurity } from "../security/cli.js";
import { EXIT, EXIT_CODES_HELP, reportError, UsageError } from "./context.js";
import { packageVersion } from "../util/version.js";
import { loadGatewayEnvFile } from "../config/env-file.js";
import { DURATION_HELP } from "../config/duration.js";

// Settings written by `pi-gateway setup` (the environment wins over the file).
loadGatewayEnvFile();

const program = new Command("pi-gateway")
  .description("Always-on gateway for the pi coding agent: background events into your sessions, and back out to you.")
  .version(packageVersion(), "-v, --version")
  .option(
    "--redis-url <url>",
    "Redis to use, redis:// or rediss:// with user:password (default: $REDIS_URL, else the daemon's embedded Redis while it runs, else redis://127.0.0.1:6379)",
  )
  .option("--prefix <prefix>", "key prefix (default: $GATEWAY_PREFIX or agent)")
  .option("--timeout <duration>", "how long to wait for Redis to answer, e.g. 5s")
  .option("--json", "machine-readable output")
  // Usage errors are thrown (every subcommand inherits both settings) and reported by the catch
  // below as one line with exit status 2; commander would print two lines and exit 1.
  .exitOverride()
  .configureOutput({ outputError: () => undefined })
  .addHelpText("after", `\nEnvironment: ${BUS_ENV_VARS.join(", ")} (every setting: pi-gateway config)\n${DURATION_HELP}\n${EXIT_CODES_HELP}`);

registerPush(program);
registerSchedule(program);
registerNotify(program);
registerPair(program);
registerTail(program);
registerSessions(program);
registerStatus(program);
registerDeadLetters(program);
registerSetup(program);
registerDoctor(program);
registerDaemon(program);
registerHeartbeat(program);
registerChat(program);
registerSecurity(program);
registerConfig(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (!(error instanceof CommanderError)) throw error;
  reportUsageError(error);
}

/** Help and --version end here with status 0; anything else commander refuses is a usage error. */
function reportUsageError(error: CommanderError): void {
  if (error.exitCode === 0) return;
  // Commander has already printed the help (to stderr) when no command was given.
  if (error.code === "commander.help") process.exitCode = EXIT.usage;
  else
    reportError(
      new UsageError(`${error.message.replace(/^error: /, "").replace(/\s*\n\s*\((.)/g, (_m, c: string) => ` (${c.toLowerCase()}`)} (add --help for usage)`),
      Boolean(program.opts().json),
    );
}
