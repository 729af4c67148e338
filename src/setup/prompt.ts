/** Numbered-choice questions on a terminal (node:readline), the way the original design asks them. */
import { createInterface, type Interface } from "node:readline/promises";
import type { Choice } from "./answers.js";

export class Prompter {
  private readonly rl: Interface;

  constructor(
    input: NodeJS.ReadableStream = process.stdin,
    private readonly output: NodeJS.WritableStream = process.stdout,
  ) {
    this.rl = createInterface({ input, output, terminal: false });
  }

  async choose<T>(question: string, choices: Array<Choice<T>>, defaultIndex = 0): Promise<T> {
    this.output.write(`\n${question}\n`);
    choices.forEach((c, i) => this.output.write(`  ${i + 1}. ${c.label} — ${c.hint}\n`));
    for (;;) {
      const answer = (await this.rl.question(`Choose 1-${choices.length} [${defaultIndex + 1}]: `)).trim();
      if (answer === "") return choices[defaultIndex]!.value;
      const n = Number(answer);
      if (Number.isInteger(n) && n >= 1 && n <= choices.length) return choices[n - 1]!.value;
      this.output.write(`Please answer with a number from 1 to ${choices.length}.\n`);
    }
  }

  async confirm(question: string, defaultYes = true): Promise<boolean> {
    for (;;) {
      const answer = (await this.rl.question(`${question} ${defaultYes ? "[Y/n]" : "[y/N]"}: `)).trim().toLowerCase();
      if (answer === "") return defaultYes;
      if (["y", "yes"].includes(answer)) return true;
      if (["n", "no"].includes(answer)) return false;
      this.output.write("Please answer y or n.\n");
    }
  }

  close(): void {
    this.rl.close();
  }
}
