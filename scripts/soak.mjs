// `npm run soak -- --minutes N`: the restart soak (test/chaos/restart-soak.ts) at full length: events
// through the daemon and an extension pi while Redis and the daemon are restarted; prints RSS, heap,
// open file descriptors and Redis keys/memory at the start and every minute, and fails when an event
// is lost or recorded twice or a figure grows past the rule it states. `--help` lists the flags.
// SOAK_MINUTES and SOAK_RATE still work when the flags are not given.
import { spawnSync } from "node:child_process";

const root = new URL("..", import.meta.url).pathname;
const HELP = `usage: npm run soak -- [--minutes N] [--rate EV_PER_S] [--pi-rate EV_PER_S] [--redis-restart-every DURATION] [--daemon-restart-every DURATION]

  --minutes N                 how long the load runs (default 20, or $SOAK_MINUTES); a fraction is allowed, at least 2
  --rate N                    events per second to the daemon (default 10, or $SOAK_RATE)
  --pi-rate N                 events per second to the extension pi, which the daemon gets too (default 1)
  --redis-restart-every D     stop Redis and start it again every D (default 6m; e.g. 90s, 5m)
  --daemon-restart-every D    restart the daemon every D, SIGTERM and SIGKILL in turn (default 4m)
  --help                      this text

Not part of CI: the chaos suite runs the same scenario for 2 minutes (test/chaos/restart-soak.chaos.ts).`;

/** Exits 2 with the reason and the usage line. */
function fail(message) {
  console.error(`soak: ${message}\n${HELP.split("\n")[0]}`);
  process.exit(2);
}

/** A positive finite number, or the failure naming where it came from. */
function positive(raw, where) {
  const text = String(raw).trim();
  const value = Number(text);
  if (text === "" || !Number.isFinite(value) || value <= 0) fail(`${where} must be a positive number (got "${raw}")`);
  return value;
}

/** "90s", "5m", "1h" or plain seconds: milliseconds. */
function duration(raw, where) {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(String(raw).trim());
  if (!match) fail(`${where} must be a duration such as 90s or 5m (got "${raw}")`);
  const value = Number(match[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? "s"];
  if (!(value >= 10_000)) fail(`${where} must be at least 10s (got "${raw}")`);
  return value;
}

const flags = new Map();
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const arg = args[i];
  if (arg === "--help" || arg === "-h") {
    console.log(HELP);
    process.exit(0);
  }
  const match = /^--(minutes|rate|pi-rate|redis-restart-every|daemon-restart-every)(?:=(.*))?$/.exec(arg);
  if (!match) fail(`unknown argument "${arg}"`);
  const value = match[2] ?? args[++i];
  if (value === undefined || value.startsWith("--")) fail(`--${match[1]} needs a value`);
  if (flags.has(match[1])) fail(`--${match[1]} given twice`);
  flags.set(match[1], value);
}
const fromEnv = (name) => (process.env[name] === undefined || process.env[name] === "" ? undefined : process.env[name]);
const pick = (flag, env, fallback) =>
  flags.has(flag) ? [flags.get(flag), `--${flag}`] : env && fromEnv(env) !== undefined ? [fromEnv(env), env] : [fallback, "default"];

const minutes = positive(...pick("minutes", "SOAK_MINUTES", "20"));
if (minutes < 2) fail(`--minutes must be at least 2 (a warm-up and two windows to compare; got ${minutes})`);
const rate = positive(...pick("rate", "SOAK_RATE", "10"));
const piRate = positive(...pick("pi-rate", undefined, "1"));
const redisEvery = duration(...pick("redis-restart-every", undefined, "6m"));
const daemonEvery = duration(...pick("daemon-restart-every", undefined, "4m"));

console.log(
  `soak: ${minutes} min of ${rate} ev/s to the daemon + ${piRate} ev/s to an extension pi; Redis restarted every ${redisEvery / 1000}s, the daemon every ${daemonEvery / 1000}s`,
);
const result = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-reporter=spec", "test/chaos/restart-soak.chaos.ts"], {
  cwd: root,
  stdio: "inherit",
  env: {
    ...process.env,
    NODE_ENV: "test",
    CHAOS_RESTART_SOAK_SECONDS: String(Math.round(minutes * 60)),
    CHAOS_RESTART_SOAK_RATE: String(rate),
    CHAOS_RESTART_SOAK_PI_RATE: String(piRate),
    CHAOS_RESTART_SOAK_REDIS_EVERY: String(redisEvery / 1000),
    CHAOS_RESTART_SOAK_DAEMON_EVERY: String(daemonEvery / 1000),
  },
});
process.exit(result.status ?? 1);
