/** `pi-gateway setup`: the original design's three questions, then an idempotent install. */
import { execSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { resolveBusOptions } from "../config/bus-options.js";
import { parseSetting, type Env } from "../config/resolve.js";
import { SETTINGS } from "../config/schema.js";
import { action, busOverrides, globalOptions, oneLine, print, printJson, UsageError, type GlobalOptions } from "../cli/context.js";
import {
  GOAL_CHOICES,
  normalizeAnswers,
  parseSessions,
  parseSource,
  parseTier,
  SESSION_CHOICES,
  SOURCE_CHOICES,
  type Choice,
  type SetupAnswers,
} from "./answers.js";
import { applyFiles, changed, decide, type FileResult } from "./apply.js";
import { setupPaths } from "./paths.js";
import { planSetup, SetupError, type PlanContext, type SetupPlan } from "./plan.js";
import { readPreviousSetup, type PreviousSetup } from "./previous.js";
import { Prompter } from "./prompt.js";
import { checkRedis, howToStartRedis, type RedisCheck } from "./redis-check.js";
import type { ServiceManager } from "./service/index.js";
import type { Platform } from "./service/types.js";

interface SetupFlags {
  tier?: string;
  source?: string;
  sessions?: string;
  yes?: boolean;
  dryRun?: boolean;
  service?: string;
  platform?: string;
  home?: string;
  interval?: string;
  start?: boolean;
}

export function registerSetup(program: Command): void {
  program
    .command("setup")
    .description("set up the gateway: asks three questions (or take them as flags), then installs idempotently")
    .option("--tier <n>", "1 notifications, 2 always-on, 3 always-on + several sessions, 4 full gateway")
    .option("--source <source>", "event source: cron, inngest or mixed")
    .option("--sessions <count>", "concurrent pi sessions: one or several")
    .option("-y, --yes", "accept defaults for unanswered questions and apply without asking")
    .option("--dry-run", "print every file it would write, and the commands, without changing anything")
    .option("--service <manager>", "launchd, systemd, tmux or none (default: launchd on macOS, systemd on Linux)")
    .option("--interval <duration>", "heartbeat interval (default: the previous run's, $GATEWAY_HEARTBEAT_INTERVAL or 15m)")
    .option("--start", "also run the commands that start the services")
    .option("--home <dir>", "home directory to install into (default: yours)")
    .option("--platform <platform>", "darwin or linux (default: this machine's)")
    .action(action(async (flags: SetupFlags, command: Command) => runSetup(flags, globalOptions(command))));
}

/** Where and how setup runs: the flags, the previous run's answers and the environment, resolved. */
interface SetupSettings {
  platform: Platform;
  home: string;
  previous: PreviousSetup;
  manager: ServiceManager | "none";
  redisUrl: string;
  redisUrlSetting: string | undefined;
  interval: string;
  /** Questions are asked (a terminal, no --yes, no --json). */
  interactive: boolean;
}

function resolveSettings(flags: SetupFlags, options: GlobalOptions): SetupSettings {
  const platform = parsePlatform(flags.platform ?? process.platform);
  const home = flags.home ?? homedir();
  const previous = readPreviousSetup(setupPaths(home).envFile);
  const manager = parseManager(flags.service ?? previousManager(previous, platform), platform);
  // The flag, then the environment, then the previous run's Redis (each checked before it is
  // written into gateway.env and the service files); none of them: no REDIS_URL is written, so
  // the daemon may start its own redis-server.
  const overrides = busOverrides(options);
  const redisUrlSetting = overrides.redisUrl ?? parseSetting("REDIS_URL", process.env.REDIS_URL) ?? (previous.redisUrl || undefined);
  const redisUrl = resolveBusOptions({ ...overrides, redisUrl: redisUrlSetting }).redisUrl;
  const interval = flags.interval ?? previous.interval ?? heartbeatIntervalText(process.env);
  const interactive = !flags.yes && !options.json && Boolean(process.stdin.isTTY);
  if (!interactive && !flags.yes && !flags.dryRun && (!flags.tier || !flags.source || !flags.sessions)) {
    throw new UsageError("setup needs its answers: run it in a terminal, or pass --tier, --source and --sessions (or --yes for defaults)");
  }
  return { platform, home, previous, manager, redisUrl, redisUrlSetting, interval, interactive };
}

async function runSetup(flags: SetupFlags, options: GlobalOptions): Promise<void> {
  const settings = resolveSettings(flags, options);
  const { previous, home, platform } = settings;
  if (!options.json) for (const line of previous.ignored) process.stderr.write(`pi-gateway: ${oneLine(line)}\n`);
  const prompter = settings.interactive ? new Prompter() : undefined;
  try {
    if (prompter && previous.tier) print(`\nThe defaults are your previous answers (${previous.file}): press Enter to keep them.`);
    const answers = await resolveAnswers(flags, previous, prompter);
    const redis = await checkRedis(settings.redisUrl);
    const plan = planOrExplain(answers, {
      paths: setupPaths(home),
      platform,
      manager: settings.manager,
      redisUrl: settings.redisUrl,
      redisUrlSetting: settings.redisUrlSetting,
      packageRoot: fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, ""),
      nodePath: process.execPath,
      piPath: findOnPath("pi"),
      heartbeatInterval: settings.interval,
    });
    const decisions = plan.files.map(decide);
    if (options.json) {
      const results = flags.dryRun ? decisions : applyFiles(plan, { dryRun: false });
      const ran = !flags.dryRun && flags.start ? runCommands(plan.commands) : [];
      return printJson({
        answers,
        dryRun: Boolean(flags.dryRun),
        redis,
        files: results,
        changed: changed(results),
        commands: plan.commands,
        ran,
        notes: plan.notes,
        ignored: previous.ignored,
      });
    }
    print(`\nSetting up tier ${answers.tier} (${answers.source}, ${answers.sessions === "one" ? "one session" : "several sessions"}) for ${home}`);
    printRedis(redis, platform);
    await applyAndReport(plan, decisions, flags, prompter);
  } finally {
    prompter?.close();
  }
}

function printRedis(redis: RedisCheck, platform: Platform): void {
  print(
    redis.ok
      ? `✔ ${redis.detail}`
      : `✘ Redis: ${redis.detail}\n  Start it with one of:\n${howToStartRedis(platform)
          .map((c) => `    ${c}`)
          .join("\n")}`,
  );
  if (redis.ok && !redis.aof) print("  note: AOF is off, so a Redis crash can lose queued events (redis-cli CONFIG SET appendonly yes)");
}

/** The terminal flow after planning: dry run, nothing to do, or confirm, apply and (--start) start. */
async function applyAndReport(plan: SetupPlan, decisions: FileResult[], flags: SetupFlags, prompter: Prompter | undefined): Promise<void> {
  if (flags.dryRun) return printDryRun(plan, decisions);
  printSummary(decisions);
  if (!changed(decisions)) {
    print("\nNothing to change: everything is already set up.");
    return printNext(plan, false);
  }
  if (prompter && !(await prompter.confirm("\nApply these changes?"))) return print("Nothing changed.");
  const results = applyFiles(plan, { dryRun: false });
  print("");
  for (const r of results.filter((x) => x.backup)) print(`  backed up ${r.path} -> ${r.backup}`);
  print(`Done: ${results.filter((r) => r.action === "create").length} created, ${results.filter((r) => r.action === "update").length} updated.`);
  if (flags.start) {
    for (const line of runCommands(plan.commands)) print(line);
  }
  printNext(plan, Boolean(flags.start));
}

/**
 * Each answer from its flag, else asked (the previous run's answer as the default), else with
 * --yes the previous run's answer or the first choice.
 */
async function resolveAnswers(flags: SetupFlags, previous: PreviousSetup, prompter: Prompter | undefined): Promise<SetupAnswers> {
  const ask = async <T>(question: string, choices: Array<Choice<T>>, fallback: T | undefined): Promise<T> => {
    if (!prompter) return fallback ?? choices[0]!.value;
    return prompter.choose(
      question,
      choices,
      Math.max(
        0,
        choices.findIndex((c) => c.value === fallback),
      ),
    );
  };
  // The goal question offers tiers 1, 2 and 4: tier 3 is "always-on" with several sessions.
  const goal = previous.tier === 3 ? 2 : previous.tier;
  return normalizeAnswers({
    tier: flags.tier ? parseFlag(parseTier, flags.tier) : await ask("What's your goal?", GOAL_CHOICES, goal),
    source: flags.source ? parseFlag(parseSource, flags.source) : await ask("What's your event source?", SOURCE_CHOICES, previous.source),
    sessions: flags.sessions ? parseFlag(parseSessions, flags.sessions) : await ask("How many concurrent agent sessions?", SESSION_CHOICES, previous.sessions),
  });
}

/** The previous run's service manager, when it still makes sense on this platform (else said why). */
function previousManager(previous: PreviousSetup, platform: Platform): string | undefined {
  const { service } = previous;
  if ((service === "launchd" && platform !== "darwin") || (service === "systemd" && platform !== "linux")) {
    previous.ignored.push(`GATEWAY_SETUP_SERVICE=${service} in ${previous.file}: not available on ${platform}; not used as a default`);
    return undefined;
  }
  return service;
}

function planOrExplain(answers: SetupAnswers, ctx: PlanContext): SetupPlan {
  try {
    return planSetup(answers, ctx);
  } catch (error) {
    if (error instanceof SetupError) throw new UsageError(error.message);
    throw error;
  }
}

const ACTION_LABEL: Record<FileResult["action"], string> = { create: "create", update: "update", unchanged: "unchanged", kept: "keep" };

function printSummary(decisions: FileResult[]): void {
  print("");
  for (const d of decisions) print(`  ${ACTION_LABEL[d.action].padEnd(9)} ${d.path}${d.reason ? ` (${d.reason})` : ""}\n            ${d.description}`);
}

function printDryRun(plan: SetupPlan, decisions: FileResult[]): void {
  print("\nDry run: nothing is written.");
  plan.files.forEach((file, i) => {
    const d = decisions[i]!;
    print(`\n=== ${d.action === "kept" ? "would keep" : `would ${d.action}`} ${file.path} (mode ${file.mode.toString(8)}) — ${file.description}`);
    if (d.action !== "kept" && d.action !== "unchanged") print(file.content.trimEnd());
  });
  if (plan.commands.length) print(`\n=== commands (run with --start, or yourself):\n${plan.commands.map((c) => `  ${c}`).join("\n")}`);
  printNotes(plan);
}

function printNext(plan: SetupPlan, started: boolean): void {
  if (plan.commands.length && !started) print(`\nTo start the services now (or rerun with --start):\n${plan.commands.map((c) => `  ${c}`).join("\n")}`);
  printNotes(plan);
  print("\nCheck everything with: pi-gateway doctor");
}

function printNotes(plan: SetupPlan): void {
  if (plan.notes.length) print(`\nNotes:\n${plan.notes.map((n) => `  - ${n}`).join("\n")}`);
}

function runCommands(commands: string[]): string[] {
  return commands.map((cmd) => {
    try {
      execSync(cmd, { stdio: "pipe", shell: "/bin/sh" });
      return `  ✔ ${cmd}`;
    } catch (error) {
      return `  ✘ ${cmd}: ${
        String((error as { stderr?: Buffer }).stderr ?? (error as Error).message)
          .trim()
          .split("\n")[0]
      }`;
    }
  });
}

export function findOnPath(name: string, path = process.env.PATH ?? ""): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function parsePlatform(value: string): Platform {
  if (value === "darwin" || value === "linux") return value;
  throw new UsageError(`unsupported platform "${value}" (darwin or linux)`);
}

function parseManager(value: string | undefined, platform: Platform): ServiceManager | "none" {
  if (value === undefined) return platform === "darwin" ? "launchd" : "systemd";
  if (value === "launchd" || value === "systemd" || value === "tmux" || value === "none") {
    if (value === "launchd" && platform !== "darwin") throw new UsageError("--service launchd is only available on macOS");
    if (value === "systemd" && platform !== "linux") throw new UsageError("--service systemd is only available on Linux");
    return value;
  }
  throw new UsageError(`--service must be launchd, systemd, tmux or none (got "${value}")`);
}

function parseFlag<T>(parse: (v: string) => T, value: string): T {
  try {
    return parse(value);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** GATEWAY_HEARTBEAT_INTERVAL as setup writes it (checked first), else the default's text. */
function heartbeatIntervalText(env: Env): string {
  const text = env.GATEWAY_HEARTBEAT_INTERVAL?.trim();
  if (!text) return SETTINGS.GATEWAY_HEARTBEAT_INTERVAL.defaultText;
  parseSetting("GATEWAY_HEARTBEAT_INTERVAL", text);
  return text;
}
