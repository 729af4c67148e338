/**
 * HOSTILE SURFACES (issue #17 item 8), the big run of test/chaos/surface-fuzz.ts on one private Redis:
 *  - the in-process fuzz (config values, schedule specs, the schedule tools, pairing codes and ids,
 *    every agent tool's arguments, the history/journal API's parameters), CHAOS_SURFACE_ITERATIONS
 *    cases (default 20,000);
 *  - the built CLI with hostile values (`schedule add/rm`, `pair approve/revoke`, global flags, bad
 *    settings in the environment): exit 0, 1 or 2, never a crash, output and errors without raw
 *    control characters; malformed codes and ids refused with 2 even with Redis down;
 *  - the Telegram pairing flow with unknown users whose names are hostile: each gets a code, and
 *    `pair list` (human and JSON), GET /api/pairing and `pair approve` handle them;
 * and then the records stored before it all (schedules, paired users, requests, corrupt entries
 * among them) are checked unchanged. CHAOS_SEED replays a run.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { PAIRING_ALPHABET } from "../../src/bus/pairing.js";
import { createHttpApp } from "../../src/channels/http/app.js";
import { SETTINGS } from "../../src/config/schema.js";
import { startHarness, waitConfirmed } from "../channels/telegram/harness.js";
import { runCli, type CliResult } from "../helpers/cli.js";
import { freePort, startRedis } from "../helpers/redis-server.js";
import { GatewayBus } from "../../src/bus/bus.js";
import { envNumber, figure, prng, seconds } from "./harness.js";
import { hostileString, messageProblem, runSurfaceFuzz, UNSAFE_IN_MESSAGE, type Rand } from "./surface-fuzz.js";

const SEED = Number(process.env.CHAOS_SEED ?? "1337");
const ITERATIONS = envNumber("CHAOS_SURFACE_ITERATIONS", 20_000);
const CLI_CASES = envNumber("CHAOS_SURFACE_CLI", 48);
const STRANGERS = 8;

const cleanups: Array<() => Promise<unknown> | unknown> = [];
after(async () => {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
});

const pick = <T>(rand: Rand, items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
/** An argument a shell can pass (no NUL), not too long for a command line. */
const argument = (rand: Rand) => hostileString(rand).replace(/\0/g, "").slice(0, 5_000);

/** A CLI call with hostile values; `malformed`: what must be a usage error (exit 2) whatever Redis does. */
function cliCase(rand: Rand): { args: string[]; env: Record<string, string>; malformed: boolean } {
  const value = argument(rand);
  const kind = pick(rand, ["schedule-add", "schedule-rm", "approve", "revoke", "global", "setting"] as const);
  if (kind === "schedule-add") {
    const flag = pick(rand, ["--tz", "--in", "--at", "--cron", "--id", "--session"]);
    const when = flag === "--tz" ? ["--cron", "0 9 * * *"] : ["--in", "--at", "--cron"].includes(flag) ? [] : ["--in", "1m"];
    return { args: ["schedule", "add", `--${flag.slice(2)}=${value}`, ...when, "--force", "--", "fuzzed"], env: {}, malformed: false };
  }
  // A value that cannot be a schedule id / pairing code / user id, as the CLI documents them.
  if (kind === "schedule-rm") return { args: ["schedule", "rm", "--", value], env: {}, malformed: !/^[A-Za-z0-9_.-]{1,64}$/.test(value) };
  if (kind === "approve") {
    const normal = value.replace(/[\s-]+/g, "").toUpperCase();
    return { args: ["pair", "approve", "--", value], env: {}, malformed: !new RegExp(`^[${PAIRING_ALPHABET}]{8}$`).test(normal) };
  }
  if (kind === "revoke") return { args: ["pair", "revoke", "--", value], env: {}, malformed: !/^\d{1,16}$/.test(value.trim()) };
  if (kind === "global") return { args: [`${pick(rand, ["--timeout", "--prefix", "--redis-url"])}=${value}`, "schedule", "list"], env: {}, malformed: false };
  const name = pick(rand, Object.keys(SETTINGS));
  return { args: ["pair", "list"], env: { [name]: value }, malformed: false };
}

/** What is wrong with a CLI run's output, if anything. */
function cliProblem(result: CliResult, malformed: boolean): string | undefined {
  if (![0, 1, 2, 3].includes(result.code)) return `exit ${result.code}`;
  if (malformed && result.code !== 2) return `exit ${result.code} for malformed input (expected 2)`;
  if (/\n\s+at .+:\d+:\d+\)?\n/.test(result.stderr)) return "a stack trace";
  for (const line of result.stderr.split("\n").filter(Boolean)) {
    const bad = messageProblem(line);
    if (bad) return `stderr ${bad}: ${JSON.stringify(line.slice(0, 200))}`;
  }
  const stdoutBad = result.stdout.split("\n").find((line) => UNSAFE_IN_MESSAGE.test(line));
  if (stdoutBad !== undefined) return `stdout has a raw control character: ${JSON.stringify(stdoutBad.slice(0, 200))}`;
  return undefined;
}

describe("chaos: hostile input on the newer surfaces", () => {
  test(
    "HOSTILE-SURFACES: seeded fuzz of config, schedules, pairing, tool arguments, history API; the CLI; Telegram pairing with hostile names",
    { timeout: 600_000 },
    async () => {
      const redis = await startRedis();
      cleanups.push(() => redis.stop());
      const bus = await GatewayBus.connect({ redisUrl: redis.url });
      cleanups.push(() => bus.close());
      const up = { REDIS_URL: redis.url, HOME: redis.dir, GATEWAY_ENV_FILE: "none" };
      const down = { ...up, REDIS_URL: `redis://127.0.0.1:${await freePort()}` };
      const rand = prng(SEED ^ 0x5eed);
      const cliProblems: string[] = [];
      const cliExits: Record<number, number> = {};
      const telegram = { asked: 0, coded: 0, listed: 0, approved: 0 };
      const telegramProblems: string[] = [];

      const runCliCases = async () => {
        const cases = Array.from({ length: CLI_CASES }, () => cliCase(rand));
        for (let i = 0; i < cases.length; i += 4) {
          await Promise.all(
            cases.slice(i, i + 4).map(async (c, j) => {
              // Malformed input goes to a Redis that is down: the CLI must not need it to say so.
              const result = await runCli(c.args, { env: { ...(c.malformed ? down : up), ...c.env } });
              cliExits[result.code] = (cliExits[result.code] ?? 0) + 1;
              const bad = cliProblem(result, c.malformed);
              if (bad) cliProblems.push(`seed ${SEED}, CLI case ${i + j} ${JSON.stringify(c.args).slice(0, 200)}: ${bad}`);
            }),
          );
        }
      };

      const runTelegramPairing = async () => {
        const h = await startHarness({ pairing: { store: () => bus.pairing, limits: { ttlMs: 3_600_000, maxPending: 1_000 } } });
        try {
          const strangers = Array.from({ length: STRANGERS }, (_, i) => ({
            chatId: 6_660_000 + i,
            userId: 6_660_000 + i,
            username: argument(rand).slice(0, 64),
            firstName: `${argument(rand).slice(0, 64)}\u009b2J\u001b]0;pwned\u0007`,
          }));
          for (const stranger of strangers) {
            await waitConfirmed(h.fake, h.fake.injectMessage({ ...stranger, text: argument(rand) || "hi" }));
            telegram.asked++;
          }
          const codes = strangers.map((s) => new RegExp(`code: ([${PAIRING_ALPHABET}]{8})`).exec(h.fake.messagesIn(s.chatId)[0] ?? "")?.[1]);
          telegram.coded = codes.filter(Boolean).length;
          const human = await runCli(["pair", "list"], { env: up });
          const json = await runCli(["pair", "list", "--json"], { env: up });
          for (const [what, result] of [
            ["pair list", human],
            ["pair list --json", json],
          ] as const) {
            const bad = cliProblem(result, false) ?? (result.code === 0 ? undefined : `exit ${result.code}`);
            if (bad) telegramProblems.push(`${what}: ${bad}`);
          }
          const listed = (JSON.parse(json.stdout || "{}") as { requests?: Array<{ userId: string }> }).requests ?? [];
          telegram.listed = strangers.filter((s) => listed.some((r) => r.userId === String(s.userId))).length;
          const api = await createHttpApp({ bus, token: "t" }).request("/api/pairing", { headers: { authorization: "Bearer t" } });
          if (api.status !== 200) telegramProblems.push(`GET /api/pairing answered ${api.status}`);
          for (const code of codes.filter((c): c is string => Boolean(c))) {
            const result = await runCli(["pair", "approve", code], { env: up });
            const bad = cliProblem(result, false) ?? (result.code === 0 ? undefined : `exit ${result.code}: ${result.stderr.trim()}`);
            if (bad) telegramProblems.push(`pair approve ${code}: ${bad}`);
            else telegram.approved++;
          }
        } finally {
          await h.stop();
        }
      };

      const started = Date.now();
      const report = await runSurfaceFuzz(bus, SEED, ITERATIONS, {
        alsoRun: async () => {
          await runCliCases();
          await runTelegramPairing();
        },
      });
      const tried = Object.values(report.surfaces).reduce((n, s) => n + s.tried, 0);
      const refused = Object.values(report.surfaces).reduce((n, s) => n + s.refused, 0);
      const perSurface = Object.entries(report.surfaces)
        .map(([name, t]) => `${name} ${t.refused}/${t.tried}`)
        .join(", ");
      const exits = Object.entries(cliExits)
        .map(([code, n]) => `${n}× exit ${code}`)
        .join(", ");
      figure(
        `HOSTILE-SURFACES (seed ${SEED}): ${tried} in-process cases, ${refused} refused (${perSurface}), ${report.problems.length} unclear errors or crashes; ` +
          `${CLI_CASES} hostile CLI calls (${exits}), ${cliProblems.length} problems; Telegram pairing: ${telegram.asked} strangers with hostile names, ${telegram.coded} got a code, ` +
          `${telegram.listed} listed, ${telegram.approved} approved; stored records intact: ${report.problems.some((p) => /stored|lost|corrupt|pairing list/.test(p)) ? "NO" : "yes"}; ${seconds(Date.now() - started)}`,
      );
      assert.deepEqual(report.problems, [], `replay with CHAOS_SEED=${SEED}`);
      assert.deepEqual(cliProblems, [], `replay with CHAOS_SEED=${SEED}`);
      assert.deepEqual(telegramProblems, []);
      assert.equal(telegram.coded, STRANGERS, "every stranger got a code");
      assert.equal(telegram.listed, STRANGERS, "every request listed");
      assert.equal(telegram.approved, STRANGERS, "every code approved");
    },
  );
});
