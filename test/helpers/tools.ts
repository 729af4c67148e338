// System tools some tests need beyond Node and redis-server. On a developer's machine a missing
// tool skips those tests with one visible line naming the tool and how to get it; in CI (CI=true,
// where .ci/run installs them all) a missing tool is a failure, so nothing is skipped unseen.
import { findOnPath } from "../../src/setup/cli.js";

export type SystemTool = "chromium" | "tmux" | "systemd-analyze" | "openssl";

const HOW_TO_GET: Record<SystemTool, string> = {
  chromium: "apt-get install chromium (or brew install --cask chromium), or set CHROMIUM_PATH",
  tmux: "apt-get install tmux (or brew install tmux)",
  "systemd-analyze": "apt-get install systemd (Linux only)",
  openssl: "apt-get install openssl (or brew install openssl)",
};

const CANDIDATES: Record<SystemTool, string[]> = {
  chromium: ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"],
  tmux: ["tmux"],
  "systemd-analyze": ["systemd-analyze"],
  openssl: ["openssl"],
};

/** The tool's executable, or undefined. Chromium honours CHROMIUM_PATH first. */
export function findTool(tool: SystemTool): string | undefined {
  const explicit = tool === "chromium" ? process.env.CHROMIUM_PATH : undefined;
  if (explicit) return explicit;
  for (const name of CANDIDATES[tool]) {
    const path = findOnPath(name);
    if (path) return path;
  }
  return undefined;
}

const announced = new Set<SystemTool>();

/**
 * For a test's `skip` option: false when the tool is there (or in CI, where its absence must fail
 * the test), else the reason, printed once to stderr so the skip is seen.
 */
export function skipWithout(tool: SystemTool): string | false {
  if (findTool(tool) || process.env.CI) return false;
  const reason = `needs ${tool} (not installed: ${HOW_TO_GET[tool]})`;
  if (!announced.has(tool)) {
    announced.add(tool);
    process.stderr.write(`SKIPPED: the tests that need ${tool} (not installed: ${HOW_TO_GET[tool]})\n`);
  }
  return reason;
}

/** The tool's path, or a clear failure (used inside tests that CI must not skip). */
export function requireTool(tool: SystemTool): string {
  const path = findTool(tool);
  if (!path) throw new Error(`${tool} is not installed: ${HOW_TO_GET[tool]}`);
  return path;
}
