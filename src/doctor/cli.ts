/** `pi-gateway doctor`: the verification checklist, automated. */
import { homedir } from "node:os";
import { Option, type Command } from "commander";
import { action, busOverrides, EXIT, globalOptions, print, printJson } from "../cli/context.js";
import { resolveBusOptions } from "../config/bus-options.js";
import { parseDurationFlag } from "../config/duration.js";
import { resolveSessionOptions } from "../config/session-options.js";
import { setupPaths } from "../setup/paths.js";
import { runChecks, type CheckStatus } from "./checks.js";

const MARK: Record<CheckStatus, string> = { pass: "✔", warn: "!", fail: "✘", skip: "-" };

export function registerDoctor(program: Command): void {
  program
    .command("doctor")
    .description(
      "run the verification checklist: Redis, extension, central session, heartbeat, watchdog, service installed and running (--deep: a test event through a turn)",
    )
    .option("--deep", "also push a test event to the central session and wait for its turn (costs one LLM turn)")
    // The default no longer pushes; kept so scripts that pass it still run.
    .addOption(new Option("--no-push", "(default now) do not push a test event").hideHelp())
    .option("--wait <duration>", "with --deep, how long to wait for the test event to be delivered", "10s")
    .option("--home <dir>", "home directory setup installed into (default: yours)")
    .action(
      action(async (flags: { deep?: boolean; wait: string; home?: string }, command: Command) => {
        const options = globalOptions(command);
        const results = await runChecks({
          bus: resolveBusOptions(busOverrides(options)),
          paths: setupPaths(flags.home ?? homedir()),
          platform: process.platform === "darwin" ? "darwin" : "linux",
          deep: Boolean(flags.deep),
          waitMs: parseDurationFlag("--wait", flags.wait),
          thresholdMs: resolveSessionOptions().watchdogThresholdMs,
        });
        const ok = results.every((r) => r.status !== "fail");
        // Redis unreachable has its own exit status, as for every other command.
        if (!ok) process.exitCode = results.find((r) => r.id === "redis")?.status === "fail" ? EXIT.redisUnreachable : EXIT.failure;
        if (options.json) return printJson({ ok, checks: results });
        for (const r of results) {
          print(`${MARK[r.status]} ${r.title}: ${r.detail}`);
          if (r.fix && r.status !== "pass") print(`    fix: ${r.fix}`);
        }
        const failed = results.filter((r) => r.status === "fail").length;
        print(ok ? "\nAll checks passed." : `\n${failed} check${failed === 1 ? "" : "s"} failed.`);
      }),
    );
}
