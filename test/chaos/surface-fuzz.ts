/**
 * Seeded fuzz of the gateway's newer input surfaces (issue #17 item 8), in-process against a real
 * Redis: every setting of the config schema, schedules (the spec the CLI and the tools share, the
 * store, the gateway_* tools), pairing codes and user ids (and hostile Telegram names stored by a
 * pairing request), the arguments of every agent tool through the pi-tool adapter, and the query
 * parameters of GET /api/history and /api/journal.
 *
 * Each case is either accepted or refused with a clear error: a ConfigError, a thrown tool error,
 * an HTTP 400 with `{error, code}`. Never a crash (any other exception, a 5xx), and never a message
 * that echoes raw hostile bytes (control characters, C1, bidi overrides, line breaks) or floods the
 * line. Records stored before the run (schedules, paired users, pairing requests) must come out
 * intact; corrupt records planted among them must not hide them.
 *
 * Deterministic for a seed: `runSurfaceFuzz` returns the problems found, each naming the seed and
 * the case, so a failure is replayed with FUZZ_SEED=<seed>.
 */
import type { ExtensionContext } from "@mariozechner/pi-coding-agent";
import type { GatewayBus } from "../../src/bus/bus.js";
import { normalisePairingCode, newPairingCode } from "../../src/bus/pairing.js";
import { buildSchedule, CLI_NAMES, SCHEDULE_ID_PATTERN, type SpecNames } from "../../src/bus/schedule-spec.js";
import { createHttpApp } from "../../src/channels/http/app.js";
import { ConfigError } from "../../src/config/errors.js";
import { parseSetting } from "../../src/config/resolve.js";
import { SETTINGS, type SettingName } from "../../src/config/schema.js";
import { gatewayTools, type AnyPiTool } from "../../src/host/tools/index.js";
import { silentLogger } from "../../src/util/logger.js";
import { NASTY_STRINGS } from "./fuzz.js";
import { prng } from "./harness.js";

/** Raw bytes no message may carry: C0 (line breaks too), DEL, C1, line/paragraph separators, bidi controls. */
// eslint-disable-next-line no-control-regex -- exactly what must never be echoed raw
export const UNSAFE_IN_MESSAGE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
/** Longest acceptable error line (the tool adapter cuts at 1,000; quoted input at 60 characters). */
export const MESSAGE_MAX = 1_100;

/** What is wrong with an error message shown to a user, an agent or a log, if anything. */
export function messageProblem(message: string): string | undefined {
  if (!message.trim()) return "empty message";
  const bad = UNSAFE_IN_MESSAGE.exec(message);
  if (bad) return `raw U+${bad[0].charCodeAt(0).toString(16).padStart(4, "0")} at ${bad.index}`;
  if (message.length > MESSAGE_MAX) return `${message.length} characters long`;
  return undefined;
}

/** Inputs that break things, on top of the bus fuzz's nasty strings. */
const HOSTILE = [
  ...NASTY_STRINGS,
  "",
  " ",
  "\t\n ",
  "\u0085next line (C1 NEL)",
  "\u009b2J C1 CSI clears the screen",
  "\u001b[2J\u001b]0;pwned\u0007",
  "\u202egnp.exe",
  "a\u2028b",
  "\ud800 lone surrogate",
  "x".repeat(100_000),
  "0x10",
  "1e2",
  " 5",
  "5.0",
  "-1",
  "0",
  "NaN",
  "Infinity",
  "1e309",
  "__proto__",
  "constructor",
  "null",
  "undefined",
  "../../etc/passwd",
  "a,b,,c",
  ",\u009b,",
  "%00",
  "%C2%9B",
  "Mars/Olympus",
  "Europe/Berlin\u0000",
  "* * * * * * *",
  "@reboot",
  "2099-01-01T00:00:00",
  "9999-99-99T99:99Z",
];

/** Valid values of each surface, to mutate into almost-valid ones. */
const VALID = [
  "30s",
  "1.5h",
  "8MiB",
  "12345",
  "1,2,3",
  "redis://127.0.0.1:6380/0",
  "https://api.telegram.org",
  "Europe/Berlin",
  "UTC",
  "0 9 * * *",
  "2099-01-01T00:00:00Z",
  "json",
  "web=collect",
  "gw.example.com",
  "https://gw.example.com",
  '{"gh":{"secret":"s"}}',
  "ABCDEFGH",
  "abcd-efgh",
  "daily.report-1",
  "main",
];
const INJECT = ["\u0000", "\n", "\r", "\u001b[31m", "\u0085", "\u009b", "\u202e", "\u2028", ",", "=", " ", "\ud83d", "🧨"];

export type Rand = () => number;
const pick = <T>(rand: Rand, items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;

/** One hostile string: a known bad one, a valid one with a bad character put in, a mix, or random code points. */
export function hostileString(rand: Rand, valid: readonly string[] = VALID): string {
  const roll = rand();
  if (roll < 0.4) return pick(rand, HOSTILE);
  if (roll < 0.7) {
    const base = pick(rand, valid);
    const at = Math.floor(rand() * (base.length + 1));
    return `${base.slice(0, at)}${pick(rand, INJECT)}${base.slice(at)}`;
  }
  if (roll < 0.85) return `${pick(rand, valid)}${pick(rand, HOSTILE)}`.slice(0, 2_000 + Math.floor(rand() * 200_000));
  return String.fromCodePoint(...Array.from({ length: 1 + Math.floor(rand() * 30) }, () => Math.floor(rand() * 0x2ffff) % 0xd7ff));
}

/** A hostile JSON-ish value for a tool parameter: a string mostly, else a wrong type. */
function hostileValue(rand: Rand): unknown {
  const roll = rand();
  if (roll < 0.6) return hostileString(rand);
  return pick(rand, [42, -1, 1e308, Number.NaN, true, null, [], ["a", "\u009b"], {}, { $ne: null }, JSON.parse('{"__proto__":{"polluted":1}}')]);
}

export interface SurfaceTally {
  tried: number;
  accepted: number;
  refused: number;
}

export interface SurfaceFuzzReport {
  seed: number;
  surfaces: Record<string, SurfaceTally>;
  /** Each one a failure: `seed S, <surface> case N: <what>`. */
  problems: string[];
}

/** Shown in a problem: the input, JSON-quoted and cut (so the report itself stays one line). */
function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 120 ? `${text.slice(0, 120)}…(${text.length})` : text;
}

/** Schedules, approved users and requests planted before the fuzz, which must come out unchanged. */
async function plantRecords(bus: GatewayBus): Promise<Map<string, Record<string, string>>> {
  const now = Date.now();
  for (let i = 0; i < 3; i++) {
    const input = buildSchedule(
      { text: `keep me ${i}`, cron: "0 9 * * *", timezone: "Europe/Berlin", id: `KEEP.${i}`, session: "main", createdBy: "fuzz" },
      now,
    );
    await bus.schedules.add(input, { force: true });
  }
  for (let i = 0; i < 3; i++) {
    await bus.pairing.request({ userId: String(900_000 + i), username: `keep${i}`, name: "Keep \u009b\u001b[2J Me" }, { ttlMs: 3_600_000, maxPending: 100 });
  }
  const k = bus.keys;
  // Paired users written as pair-approve writes them; then corrupt entries beside them (edited by hand).
  for (let i = 0; i < 3; i++) {
    const user = { userId: String(800_000 + i), code: `KEEPKEP${i + 2}`, createdAt: now, expiresAt: now + 1, approvedAt: now };
    await bus.client.hset(k.pairingApproved, user.userId, JSON.stringify(user));
  }
  await bus.client.hset(k.pairingApproved, "700001", "{not json");
  await bus.client.hset(k.pairingApproved, "700002", '{"userId":7}');
  await bus.client.hset(k.pairingRequests, "ZZZZZZZZ", "\u001b[2J garbage");
  await bus.client.hset(k.schedules, "KEEP.corrupt\u009b", '{"id":"KEEP.corrupt"');
  const snapshot = new Map<string, Record<string, string>>();
  for (const key of [k.schedules, k.schedulesDue, k.pairingApproved, k.pairingRequests]) snapshot.set(key, await plainHash(bus, key));
  return snapshot;
}

/** A hash (or a zset, as member -> score) as a plain object. */
async function plainHash(bus: GatewayBus, key: string): Promise<Record<string, string>> {
  if ((await bus.client.type(key)) === "zset") {
    const flat = await bus.client.zrange(key, 0, -1, "WITHSCORES");
    return Object.fromEntries(Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i]!, flat[2 * i + 1]!]));
  }
  return bus.client.hgetall(key);
}

/**
 * Runs `iterations` cases spread over the surfaces against `bus` (a private Redis: the run writes
 * schedules, notifications and pairing entries). Returns the tallies and every problem found.
 */
export async function runSurfaceFuzz(
  bus: GatewayBus,
  seed: number,
  iterations: number,
  options: { /** More hostile input (the CLI, a channel) on the same Redis, before the stored records are checked. */ alsoRun?: () => Promise<void> } = {},
): Promise<SurfaceFuzzReport> {
  const rand = prng(seed);
  const surfaces: Record<string, SurfaceTally> = {};
  const problems: string[] = [];
  const tally = (surface: string, accepted: boolean) => {
    const t = (surfaces[surface] ??= { tried: 0, accepted: 0, refused: 0 });
    t.tried++;
    if (accepted) t.accepted++;
    else t.refused++;
  };
  const problem = (surface: string, index: number, what: string) => {
    if (problems.length < 50) problems.push(`seed ${seed}, ${surface} case ${index}: ${what}`);
  };
  /** A refusal's message checked; `error` must be `kind` (an Error subclass) to count as clear. */
  const refusal = (surface: string, index: number, input: unknown, error: unknown, kind: abstract new (...args: never[]) => Error = Error) => {
    tally(surface, false);
    if (!(error instanceof kind)) return problem(surface, index, `crashed with ${shown(String(error))} on ${shown(input)}`);
    const bad = messageProblem(error.message);
    if (bad) problem(surface, index, `error ${bad}: ${shown(error.message)} for ${shown(input)}`);
  };

  const planted = await plantRecords(bus);
  const settingNames = Object.keys(SETTINGS) as SettingName[];
  const ctx = { bus: () => bus, sessionId: () => "fuzz-session", logger: () => silentLogger };
  const tools = gatewayTools(ctx);
  const toolCtx = { cwd: "/nonexistent-fuzz-dir" } as ExtensionContext;
  const toolNames: SpecNames = { prefix: "", timezone: "timezone" };
  const historyCalls: Array<{ limit: number; before?: string }> = [];
  const app = createHttpApp({
    bus,
    token: "fuzz-token",
    history: (limit, before) => {
      historyCalls.push({ limit, before });
      return before === undefined || before === "item-1" ? { items: [], more: false } : undefined;
    },
  });

  for (let index = 0; index < iterations; index++) {
    const surface = pick(rand, ["config", "schedule-spec", "schedule-tool", "pairing", "tool-args", "history-api"] as const);
    if (surface === "config") {
      const name = pick(rand, settingNames);
      const raw = hostileString(rand);
      try {
        parseSetting(name, raw);
        tally(surface, true);
      } catch (error) {
        refusal(surface, index, { [name]: raw }, error, ConfigError);
      }
    } else if (surface === "schedule-spec") {
      const request = hostileScheduleRequest(rand);
      const names = rand() < 0.5 ? CLI_NAMES : toolNames;
      try {
        const built = buildSchedule({ ...request, session: "main", createdBy: "fuzz" }, Date.now(), names);
        tally(surface, true);
        const bad = storedScheduleProblem(built);
        if (bad) problem(surface, index, `accepted ${shown(request)} as ${bad}`);
      } catch (error) {
        refusal(surface, index, request, error);
      }
    } else if (surface === "schedule-tool" || surface === "tool-args") {
      const tool: AnyPiTool =
        surface === "schedule-tool"
          ? pick(
              rand,
              tools.filter((t) => /schedule/.test(t.name)),
            )
          : pick(rand, tools);
      const params = surface === "schedule-tool" ? hostileScheduleRequest(rand) : hostileArguments(rand, tool);
      try {
        await tool.execute(`fuzz-${index}`, params as never, undefined, undefined, toolCtx);
        tally(surface, true);
      } catch (error) {
        refusal(surface, index, { tool: tool.name, params }, error);
      }
    } else if (surface === "pairing") {
      const input = rand() < 0.15 ? newPairingCode().toLowerCase() : hostileString(rand);
      const op = pick(rand, ["normalise", "approve", "revoke", "request"] as const);
      try {
        if (op === "normalise") normalisePairingCode(input);
        else if (op === "approve") await bus.pairing.approve(input);
        else if (op === "revoke") await bus.pairing.revoke(input);
        else await bus.pairing.request({ userId: String(100 + index), username: input, name: hostileString(rand) }, { ttlMs: 60_000, maxPending: 1_000 });
        tally(surface, true);
      } catch (error) {
        refusal(surface, index, { op, input }, error);
      }
    } else {
      const query = hostileQuery(rand);
      const path = `${rand() < 0.8 ? "/api/history" : "/api/journal"}?${query}`;
      const response = await app.request(path, { headers: { authorization: "Bearer fuzz-token" } });
      const body = (await response.json().catch(() => undefined)) as { error?: unknown; code?: unknown } | undefined;
      if (response.status === 200) tally(surface, true);
      else if (response.status === 400 && typeof body?.error === "string" && typeof body.code === "string") {
        tally(surface, false);
        const bad = messageProblem(body.error);
        if (bad) problem(surface, index, `error ${bad}: ${shown(body.error)} for ${shown(path)}`);
      } else {
        tally(surface, false);
        problem(surface, index, `${path.slice(0, 120)} answered ${response.status} ${shown(body)}`);
      }
    }
  }

  for (const call of historyCalls) {
    if (!Number.isInteger(call.limit) || call.limit < 1 || call.limit > 1000) problems.push(`seed ${seed}, history-api: the history got limit ${call.limit}`);
  }
  await options.alsoRun?.();
  await checkStored(bus, planted, seed, problems);
  return { seed, surfaces, problems };
}

/** Schedule parameters: one to three of at/in/cron, maybe a time zone and an id, mostly hostile. */
function hostileScheduleRequest(rand: Rand): { text: string; at?: string; in?: string; cron?: string; timezone?: string; id?: string } {
  const maybe = (valid: string[]) => (rand() < 0.5 ? undefined : rand() < 0.3 ? pick(rand, valid) : hostileString(rand, valid));
  const request = {
    text: rand() < 0.5 ? "wake up" : hostileString(rand),
    at: maybe(["2099-01-01T00:00:00Z", "2099-06-01T12:00:00+02:00"]),
    in: maybe(["30s", "2h", "1.5m"]),
    cron: maybe(["0 9 * * *", "*/5 * * * * *"]),
    timezone: maybe(["Europe/Berlin", "UTC", "America/New_York"]),
    id: maybe(["daily", "a.b-c_d"]),
  };
  return Object.fromEntries(Object.entries(request).filter(([, v]) => v !== undefined)) as typeof request;
}

/** A tool's arguments: its own keys with hostile values (some left out), extra keys, or not an object at all. */
function hostileArguments(rand: Rand, tool: AnyPiTool): unknown {
  if (rand() < 0.1) return hostileValue(rand);
  const keys = Object.keys((tool.parameters as { properties?: object }).properties ?? {});
  const args: Record<string, unknown> = {};
  for (const key of keys) if (rand() < 0.7) args[key] = rand() < 0.3 ? "ok" : hostileValue(rand);
  if (rand() < 0.2) args[pick(rand, ["__proto__", "constructor", "extra", "\u009b"])] = hostileValue(rand);
  return args;
}

/** A query string for the history/journal API: the known parameters with hostile values, URL-encoded or raw. */
function hostileQuery(rand: Rand): string {
  const parts: string[] = [];
  for (const key of ["limit", "before", "after", pick(rand, ["token", "limit", "x"])]) {
    if (rand() < 0.4) continue;
    const value = rand() < 0.3 ? pick(rand, ["1", "1000", "1001", "0", "0x10", "1e2", "+5", "5.0", "item-1", "1700000000000-0", ""]) : hostileString(rand);
    parts.push(`${key}=${rand() < 0.8 ? percentEncoded(value.slice(0, 3_000)) : value.slice(0, 200).replace(/[#&]/g, "")}`);
  }
  return parts.join("&");
}

/** Every UTF-8 byte percent-encoded (a lone surrogate as U+FFFD: encodeURIComponent would throw). */
function percentEncoded(value: string): string {
  return [...Buffer.from(value)].map((byte) => `%${byte.toString(16).padStart(2, "0")}`).join("");
}

/** What is wrong with a schedule buildSchedule accepted, if anything. */
function storedScheduleProblem(built: ReturnType<typeof buildSchedule>): string | undefined {
  if (built.id !== undefined && !SCHEDULE_ID_PATTERN.test(built.id)) return `id ${shown(built.id)}`;
  if (!built.text.trim()) return "an empty text";
  if (built.timezone !== undefined) {
    if (!built.timezone || built.timezone !== built.timezone.trim()) return `time zone ${shown(built.timezone)}`;
    try {
      new Intl.DateTimeFormat("en", { timeZone: built.timezone });
    } catch {
      return `time zone ${shown(built.timezone)} (not one Intl knows)`;
    }
  }
  if (!Number.isFinite(built.due)) return `due ${built.due}`;
  return undefined;
}

/** The planted records are all still there, byte for byte; listing skips the corrupt ones and says so. */
async function checkStored(bus: GatewayBus, planted: Map<string, Record<string, string>>, seed: number, problems: string[]): Promise<void> {
  for (const [key, before] of planted) {
    const now = await plainHash(bus, key);
    for (const [field, value] of Object.entries(before)) {
      // Requests may be approved by a fuzzed code only if it was theirs: the fuzz never types one.
      if (now[field] !== value) problems.push(`seed ${seed}: stored ${key} ${shown(field)} changed: ${shown(value)} -> ${shown(now[field])}`);
    }
  }
  try {
    const list = await bus.pairing.list();
    const approved = new Set(list.approved.map((a) => a.userId));
    for (const id of ["800000", "800001", "800002"]) if (!approved.has(id)) problems.push(`seed ${seed}: pairing list lost paired user ${id}`);
    const unreadable = list.unreadable.map((u) => `${u.kind}:${u.field}`).sort();
    for (const entry of ["approved:700001", "approved:700002", "request:ZZZZZZZZ"]) {
      if (!unreadable.includes(entry)) problems.push(`seed ${seed}: pairing list did not name the corrupt entry ${entry}`);
    }
    if (list.requests.filter((r) => /^keep\d$/.test(r.username ?? "")).length !== 3) problems.push(`seed ${seed}: pairing list lost a planted request`);
  } catch (error) {
    problems.push(`seed ${seed}: pairing list failed: ${shown(String(error))}`);
  }
  const { schedules, unreadable } = await bus.schedules.read();
  for (let i = 0; i < 3; i++) if (!schedules.some((s) => s.id === `KEEP.${i}`)) problems.push(`seed ${seed}: schedule KEEP.${i} lost`);
  if (!unreadable.includes("KEEP.corrupt\u009b")) problems.push(`seed ${seed}: schedule list did not name the corrupt record`);
}
