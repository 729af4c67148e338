import { readFileSync } from "node:fs";

/** The version from package.json (two levels up from both src/util and dist/util). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}
