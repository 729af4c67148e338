#!/usr/bin/env node
/**
 * The `pi-gateway` command line. Each command's module is imported only when that command runs
 * (`push` and `status` load the bus and the config, not the daemon, pi or the web app); help and
 * anything unrecognised load them all.
 */
import { Command, CommanderError } from "commander";
import { BUS_ENV_VARS } from "../config/bus-options.js";
import { EXIT, EXIT_CODES_HELP, reportError, UsageError } from "./context.js";
import { packageVersion } from "../util/version.js";
import { loadGatewayEnvFile } from "../config/env-file.js";
import { DURATION_HELP } from "../config/duration.js";

// Settings written by `pi-gateway setup` (the environment wins over the file).
loadGatewayEnvFile();

// `pi-gateway tail | head`: the reader went away, which ends this command; not a crash to report.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(0);
    throw error;
  });
}

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

type Register = (program: Command) => void;
/** In help order; the name is the command's first word on the command line. */
const COMMANDS: Array<[string, () => Promise<Register>]> = [
  ["push", async () => (await import("./commands/push.js")).registerPush],
  ["schedule", async () => (await import("./commands/schedule.js")).registerSchedule],
  ["notify", async () => (await import("./commands/notify.js")).registerNotify],
  ["pair", async () => (await import("./commands/pair.js")).registerPair],
  ["tail", async () => (await import("./commands/tail.js")).registerTail],
  ["sessions", async () => (await import("./commands/sessions.js")).registerSessions],
  ["status", async () => (await import("./commands/status.js")).registerStatus],
  ["dead-letters", async () => (await import("./commands/dead-letters.js")).registerDeadLetters],
  ["setup", async () => (await import("../setup/cli.js")).registerSetup],
  ["doctor", async () => (await import("../doctor/cli.js")).registerDoctor],
  ["daemon", async () => (await import("../daemon/cli.js")).registerDaemon],
  ["heartbeat", async () => (await import("../heartbeat/cli.js")).registerHeartbeat],
  ["chat", async () => (await import("./commands/chat.js")).registerChat],
  ["security", async () => (await import("../security/cli.js")).registerSecurity],
  ["config", async () => (await import("./commands/config.js")).registerConfig],
];
/** Global options that take a value (the word after them is not the command). */
const VALUE_OPTIONS = new Set(["--redis-url", "--prefix", "--timeout"]);

/** The command word of argv, or undefined (no command, or only options). */
export function commandWord(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (VALUE_OPTIONS.has(arg)) i++;
    else if (!arg.startsWith("-")) return arg;
  }
  return undefined;
}

const word = commandWord(process.argv.slice(2));
const wanted = COMMANDS.filter(([name]) => name === word);
for (const [, load] of wanted.length ? wanted : COMMANDS) (await load())(program);

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
