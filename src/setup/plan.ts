/**
 * What setup will do for a set of answers, computed without touching anything: the files with
 * their exact content, the commands to start services, and notes for the user. `--dry-run` prints
 * this plan; `apply.ts` carries it out.
 */
import { existsSync, readFileSync } from "node:fs";
import { HEARTBEAT_TEMPLATE } from "../host/heartbeat.js";
import { crontabLine } from "../heartbeat/crontab.js";
import type { SetupAnswers } from "./answers.js";
import { AGENT_SERVICE_LABEL, HEARTBEAT_SERVICE_LABEL, type SetupPaths } from "./paths.js";
import { answerLines } from "./previous.js";
import { generateServiceFiles, type ServiceManager } from "./service/index.js";
import type { Platform, ServiceSpec } from "./service/types.js";

/**
 * "replace": ours; an existing different file is backed up, then replaced.
 * "create": the user's to edit (HEARTBEAT.md); written only when missing, never replaced.
 */
export interface PlannedFile {
  path: string;
  content: string;
  mode: number;
  description: string;
  policy: "replace" | "create";
}

export interface SetupPlan {
  answers: SetupAnswers;
  files: PlannedFile[];
  /** Commands that start the services (run with --start, otherwise printed). */
  commands: string[];
  notes: string[];
}

export interface PlanContext {
  paths: SetupPaths;
  platform: Platform;
  /** "none" writes no service; defaults to launchd on macOS and systemd on Linux. */
  manager: ServiceManager | "none";
  redisUrl: string;
  /**
   * The Redis the user named (--redis-url or REDIS_URL): written into gateway.env and the services.
   * Unset writes none, so each process finds the default or the daemon's embedded Redis by itself
   * (a baked-in default would count as explicit and stop the daemon from starting its own).
   */
  redisUrlSetting?: string;
  /** Root of this package (what pi's settings.json "packages" gets). */
  packageRoot: string;
  /** Absolute node executable, to run our CLI from a service. */
  nodePath: string;
  /** Absolute pi executable, for the always-on tmux session; undefined when not found. */
  piPath: string | undefined;
  heartbeatInterval: string;
}

/** Commented placeholders the user fills in for tier 4 (the file is mode 600: secrets belong here). */
const TIER4_SETTINGS = [
  "# Tier 4 (pi-gateway daemon). Fill in and restart the service:",
  "# TELEGRAM_BOT_TOKEN=123456:ABC...         (from @BotFather)",
  "# TELEGRAM_ALLOWED_USERS=<your numeric Telegram user id>",
  "# GATEWAY_OWNER=telegram:<your chat id>    (where replies to events and alarms go)",
  "# GATEWAY_HOST=127.0.0.1                   (loopback; use your Tailscale address to reach it remotely)",
  "# GATEWAY_PORT=8787",
];

export class SetupError extends Error {
  override name = "SetupError";
}

export function planSetup(answers: SetupAnswers, ctx: PlanContext): SetupPlan {
  const plan: SetupPlan = { answers, files: [], commands: [], notes: [] };
  const alwaysOn = answers.tier >= 2;
  // What every gateway process reads: gateway.env and the services' environment.
  const env: Record<string, string> = ctx.redisUrlSetting ? { REDIS_URL: ctx.redisUrlSetting } : {};
  if (alwaysOn) env.GATEWAY_HEARTBEAT_INTERVAL = ctx.heartbeatInterval;
  // Tier 1+: the extension in pi's settings, and the settings every gateway process reads.
  plan.files.push(
    {
      path: ctx.paths.piSettings,
      content: settingsWithPackage(ctx.paths.piSettings, ctx.packageRoot),
      mode: 0o644,
      description: "pi settings: load the pi-gateway extension in every pi session",
      policy: "replace",
    },
    gatewayEnvFile(answers, ctx, env),
  );
  if (answers.tier === 1) {
    plan.notes.push(
      answers.sessions === "one"
        ? "Start pi as the central session so it also drains the legacy `main` queue: GATEWAY_ROLE=central pi"
        : "Start one pi with GATEWAY_ROLE=central (it gets every event); other sessions get only what their jobs report back.",
    );
  }
  if (alwaysOn) planAlwaysOn(plan, ctx, env);
  if (answers.sessions === "several") {
    plan.notes.push(
      "Several sessions: the always-on one is central (heartbeats, alerts, everything untargeted); start the others as plain `pi` (satellites). A job started from a satellite's shell inherits GATEWAY_SESSION_ID, so its `pi-gateway push` reports back to that satellite as well.",
    );
  }
  return plan;
}

function gatewayEnvFile(answers: SetupAnswers, ctx: PlanContext, env: Record<string, string>): PlannedFile {
  const { envFile } = ctx.paths;
  // Read back by the next run (its defaults) and by doctor (which service to probe): see previous.ts.
  const envFileOnly = answerLines(answers, ctx.manager);
  return {
    path: envFile,
    content: `${[
      "# pi-gateway settings, read by `pi-gateway` and the services setup installed.",
      "# Source it in your shell profile to give interactive pi sessions the same settings:",
      `#   set -a; . ${envFile}; set +a`,
      ...Object.entries({ ...env, ...envFileOnly }).map(([k, v]) => `${k}=${v}`),
      ...(answers.tier === 4 ? TIER4_SETTINGS : []),
    ].join("\n")}\n`,
    mode: 0o600,
    description: "gateway environment (Redis URL and intervals; mode 600: it may hold a password)",
    policy: "replace",
  };
}

/** Tiers 2-4: the heartbeat checklist, the agent and heartbeat services, and how to heartbeat without them. */
function planAlwaysOn(plan: SetupPlan, ctx: PlanContext, env: Record<string, string>): void {
  const { answers, files, notes } = plan;
  files.push({
    path: ctx.paths.heartbeatFile,
    content: HEARTBEAT_TEMPLATE,
    mode: 0o644,
    description: "the checklist the agent reads on every heartbeat (yours to edit; never overwritten)",
    policy: "create",
  });
  if (answers.tier === 4) {
    notes.push(
      `Tier 4: put TELEGRAM_BOT_TOKEN, TELEGRAM_ALLOWED_USERS and GATEWAY_OWNER into ${ctx.paths.envFile}; the web page and the WebSocket use the token in ~/.config/pi-gateway/token (created on first start). Then: pi-gateway chat, or open http://127.0.0.1:8787/#token=<token>.`,
    );
  } else if (!ctx.piPath)
    notes.push("pi was not found on PATH: install it (npm install -g @mariozechner/pi-coding-agent) and run setup again to get the always-on session service.");
  planServices(plan, ctx, serviceSpecs(answers, ctx, env));
  if (answers.source !== "inngest") {
    const minutes = Math.max(1, Math.round(parseIntervalMinutes(ctx.heartbeatInterval)));
    notes.push(`Heartbeat via crontab instead of the service (equivalent to the original design):\n  ${safeCrontab(minutes, ctx.redisUrl)}`);
  }
  if (answers.source !== "cron") notes.push(INNGEST_NOTE);
}

const INNGEST_NOTE = [
  "Inngest heartbeat: register the function this package exports, next to your other functions:",
  '  import { createHeartbeatFunction, createInngestApp } from "pi-gateway/inngest";',
  '  const heartbeat = createHeartbeatFunction(inngest, { cron: "*/15 * * * *" });',
  "  // Inngest in Docker, worker on the host: serveHost must be reachable from the container",
  '  const app = createInngestApp({ client: inngest, functions: [heartbeat], serveHost: "http://host.docker.internal:3100" });',
].join("\n");

/**
 * The agent (tier 4: the daemon, pi embedded, no terminal needed; tiers 2-3: an interactive central
 * pi in tmux, when pi is installed) and, unless Inngest drives it, the heartbeat.
 */
function serviceSpecs(answers: SetupAnswers, ctx: PlanContext, env: Record<string, string>): ServiceSpec[] {
  const gatewayCli = `${ctx.packageRoot}/dist/bin/pi-gateway.js`;
  const common = { workingDirectory: ctx.paths.home, env, logDir: ctx.paths.logDir, mode: "daemon" as const };
  const specs: ServiceSpec[] = [];
  if (answers.tier === 4) {
    specs.push({
      ...common,
      label: AGENT_SERVICE_LABEL,
      description: "pi-gateway daemon (embedded pi, Telegram, WebSocket, webhooks, web page)",
      program: ctx.nodePath,
      args: [gatewayCli, "daemon"],
    });
  } else if (ctx.piPath) {
    specs.push({
      ...common,
      label: AGENT_SERVICE_LABEL,
      description: "pi-gateway always-on central pi session (in tmux)",
      program: ctx.piPath,
      args: [],
      env: { ...env, GATEWAY_ROLE: "central" },
      mode: "tmux-pi",
    });
  }
  if (answers.source !== "inngest") {
    specs.push({
      ...common,
      label: HEARTBEAT_SERVICE_LABEL,
      description: "pi-gateway heartbeat (pushes cron.heartbeat on schedule)",
      program: ctx.nodePath,
      args: [gatewayCli, "heartbeat", "--interval", ctx.heartbeatInterval],
    });
  }
  return specs;
}

function planServices(plan: SetupPlan, ctx: PlanContext, specs: ServiceSpec[]): void {
  if (ctx.manager === "none") {
    plan.notes.push(
      `No service manager: start the central session yourself with GATEWAY_ROLE=central pi, and the heartbeat with: pi-gateway heartbeat --interval ${ctx.heartbeatInterval}`,
    );
    return;
  }
  for (const spec of specs) {
    const service = generateServiceFiles(spec, { platform: ctx.platform, manager: ctx.manager, home: ctx.paths.home });
    for (const file of service.files) plan.files.push({ ...file, policy: "replace" });
    plan.commands.push(...service.commands);
    plan.notes.push(...service.notes);
  }
}

/** pi's settings.json with our package in "packages" (other settings kept as they are). */
function settingsWithPackage(path: string, packageRoot: string): string {
  let settings: Record<string, unknown> = {};
  if (existsSync(path)) {
    try {
      settings = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
    } catch (error) {
      throw new SetupError(`${path} is not valid JSON (${(error as Error).message}); fix it and run setup again`);
    }
  }
  const packages = Array.isArray(settings.packages) ? [...(settings.packages as unknown[])] : [];
  const present = packages.some((p) => p === packageRoot || (typeof p === "object" && p !== null && (p as { source?: string }).source === packageRoot));
  if (!present) packages.push(packageRoot);
  return `${JSON.stringify({ ...settings, packages }, null, 2)}\n`;
}

function parseIntervalMinutes(interval: string): number {
  const match = /^(\d+)\s*(m|h)?$/.exec(interval.trim());
  if (!match) return 15;
  return match[2] === "h" ? Number(match[1]) * 60 : Number(match[1]);
}

function safeCrontab(minutes: number, redisUrl: string): string {
  try {
    return crontabLine({ intervalMinutes: minutes, redisUrl });
  } catch {
    return crontabLine({ intervalMinutes: 15, redisUrl });
  }
}
