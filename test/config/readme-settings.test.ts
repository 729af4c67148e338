/**
 * The README's tables of variables and the schema agree: every setting has a row with the same
 * default, and every row names a setting. (Backticks in the README's default cell are ignored.)
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { SETTINGS } from "../../src/config/schema.js";

const README = new URL("../../README.md", import.meta.url);

/** Rows of every `| variable | default | meaning |` table: name → default cell. */
function readmeRows(): Map<string, string> {
  const rows = new Map<string, string>();
  let inTable = false;
  for (const line of readFileSync(README, "utf8").split("\n")) {
    if (/^\| variable \| default \| meaning \|$/.test(line)) inTable = true;
    else if (!line.startsWith("|")) inTable = false;
    const row = inTable ? /^\| `([A-Z][A-Z0-9_]*)` \| (.*?) \| .+ \|$/.exec(line) : null;
    if (row) {
      assert.ok(!rows.has(row[1]!), `${row[1]} has two rows in the README`);
      rows.set(row[1]!, row[2]!.replaceAll("`", "").trim());
    }
  }
  return rows;
}

test("every setting in the schema has a README row with the same default", () => {
  const rows = readmeRows();
  const problems: string[] = [];
  for (const [name, setting] of Object.entries(SETTINGS)) {
    const cell = rows.get(name);
    if (cell === undefined) problems.push(`${name}: no row; add | \`${name}\` | ${setting.defaultText} | ${setting.help} |`);
    else if (cell !== setting.defaultText) problems.push(`${name}: README default "${cell}", schema "${setting.defaultText}"`);
  }
  assert.deepEqual(problems, []);
});

test("every variable in a README table is declared in the schema", () => {
  const unknown = [...readmeRows().keys()].filter((name) => !Object.hasOwn(SETTINGS, name));
  assert.deepEqual(unknown, []);
});
