/** `pi-gateway config`: every setting from the schema, its value, source and meaning. */
import type { Command } from "commander";
import { describeConfig } from "../../config/describe.js";
import { fromEnvFile, gatewayEnvFile } from "../../config/env-file.js";
import { action, EXIT, globalOptions, oneLine, print, printJson, table } from "../context.js";

export function registerConfig(program: Command): void {
  program
    .command("config")
    .description("list every setting: its value (secrets masked), where it comes from (env, gateway.env, default) and what it does")
    .action(
      action(async (_flags: object, command: Command) => {
        const options = globalOptions(command);
        const settings = describeConfig(process.env, fromEnvFile);
        const problems = settings.flatMap((s) => (s.problem ? [s.problem] : []));
        // A refused value ends like any other command: exit 2 and its one line, after the listing.
        if (problems.length) process.exitCode = EXIT.usage;
        if (options.json) return printJson({ ok: problems.length === 0, envFile: gatewayEnvFile() ?? null, settings });
        const rows = settings.map((s) => [s.name, oneLine(s.value) || "(none)", s.problem ? "INVALID" : s.source, s.help]);
        print(table(["variable", "value", "source", "meaning"], rows));
        for (const problem of problems) process.stderr.write(`pi-gateway: ${oneLine(problem)}\n`);
      }),
    );
}
