import type { Command } from "commander";
import { parseCount } from "../../config/bus-options.js";
import { action, globalOptions, oneLine, print, printJson, withBus } from "../context.js";

export function registerDeadLetters(program: Command): void {
  program
    .command("dead-letters")
    .alias("dlq")
    .description("show entries that could not be delivered, with the reason")
    .option("-n, --lines <count>", "how many to show, newest first", "20")
    .option("--purge", "delete all dead letters after showing them")
    .action(
      action(async (flags: { lines: string; purge?: boolean }, command: Command) => {
        const options = globalOptions(command);
        const count = parseCount(flags.lines, "--lines");
        await withBus(options, async (bus) => {
          const letters = await bus.deadLetters(count);
          const total = await bus.deadLetterCount();
          if (flags.purge) await bus.purgeDeadLetters();
          if (options.json) return printJson({ total, purged: Boolean(flags.purge), deadLetters: letters });
          if (!letters.length) return print("no dead letters");
          for (const letter of letters) {
            const raw = letter.raw.length > 200 ? `${letter.raw.slice(0, 200)}... (${letter.raw.length} chars)` : letter.raw;
            const id = letter.id ? `  ${oneLine(letter.id)}` : "";
            print(`${new Date(letter.at).toISOString()}  ${letter.session}${id}  ${oneLine(letter.reason)}`);
            print(`    ${oneLine(raw)}`);
          }
          print(`${letters.length} of ${total} shown${flags.purge ? "; all purged" : ""}`);
        });
      }),
    );
}
