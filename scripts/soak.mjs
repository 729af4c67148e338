// `npm run soak`: the daemon load scenario (test/chaos/daemon-load.chaos.ts) at full length.
// SOAK_MINUTES (default 20, as in issue #13's run) sets the duration; SOAK_RATE the events/s
// (default 20). Prints the figure line and the backlog/memory samples every 5 s.
import { spawnSync } from "node:child_process";

const root = new URL("..", import.meta.url).pathname;
const number = (name, fallback) => {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`soak: ${name} must be a positive number (got "${raw}")`);
    process.exit(2);
  }
  return value;
};
const minutes = number("SOAK_MINUTES", 20);
const rate = number("SOAK_RATE", 20);
console.log(`soak: ${rate} events/s and a WebSocket prompt every 5 s for ${minutes} min`);
const result = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-reporter=spec", "test/chaos/daemon-load.chaos.ts"], {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, NODE_ENV: "test", CHAOS_SOAK_SECONDS: String(Math.round(minutes * 60)), CHAOS_SOAK_RATE: String(rate) },
});
process.exit(result.status ?? 1);
