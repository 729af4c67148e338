/**
 * The configuration schema, one class at a time (duration, URL, JSON, list, port, count, number,
 * enum, boolean): unset and empty give the default, good values parse, and bad ones (malformed,
 * negative, huge, NaN, 1e309, unicode, control characters) stop with ONE line naming the variable,
 * the value and the expected form, never showing a secret.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { durationMs, parseDuration } from "../../src/config/duration.js";
import { ConfigError } from "../../src/config/errors.js";
import { parseSetting, resolveConfig } from "../../src/config/resolve.js";
import { SETTINGS, type SettingName } from "../../src/config/schema.js";
import { resolveBusOptions } from "../../src/config/bus-options.js";

/** Asserts that `raw` for `name` is refused with one line matching `line`; returns the message. */
function refused(name: SettingName, raw: string, line: RegExp): string {
  let message = "";
  assert.throws(
    () => parseSetting(name, raw),
    (error: Error) => {
      assert.ok(error instanceof ConfigError, `${name}=${JSON.stringify(raw)}: ${String(error)}`);
      message = error.message;
      return true;
    },
    `${name}=${JSON.stringify(raw)} was accepted`,
  );
  assert.match(message, line, `${name}=${JSON.stringify(raw)}`);
  assert.ok(message.startsWith(`${name}="`), message);
  // eslint-disable-next-line no-control-regex
  assert.doesNotMatch(message, /[\u0000-\u001f\u007f]/, "one line, no control characters");
  assert.ok(message.length < 400, `short: ${message.length} characters`);
  return message;
}

const HOSTILE = ["1e309", "NaN", "Infinity", "-5", "9".repeat(400), "١٢", "１０s", "5s\n6s", "\u001b[31m5s", "5 s s", "0x10"];

describe("unset and empty mean the default, for every setting", () => {
  test("resolveConfig({}) equals resolveConfig with every variable empty or blank", () => {
    const names = Object.keys(SETTINGS);
    const empty = resolveConfig(Object.fromEntries(names.map((n) => [n, ""])));
    const blank = resolveConfig(Object.fromEntries(names.map((n) => [n, " \t "])));
    assert.deepEqual(empty, resolveConfig({}));
    assert.deepEqual(blank, resolveConfig({}));
  });

  test("every declared default parses with its own class (the README shows the same text)", () => {
    for (const [name, setting] of Object.entries(SETTINGS)) {
      assert.ok(setting.help.length > 5, `${name} has help`);
      if (setting.defaultValue !== undefined) assert.deepEqual(parseSetting(name as SettingName, setting.defaultText), setting.defaultValue, name);
    }
  });
});

describe("duration", () => {
  test("units, decimals, blanks around, any case; 0 without unit", () => {
    assert.equal(parseSetting("GATEWAY_LEASE", "500ms"), 500);
    assert.equal(parseSetting("GATEWAY_LEASE", " 1.5S "), 1_500);
    assert.equal(parseSetting("GATEWAY_HEARTBEAT_INTERVAL", "15m"), 900_000);
    assert.equal(parseSetting("GATEWAY_TURN_TIMEOUT", "2h"), 7_200_000);
    assert.equal(parseSetting("GATEWAY_DEDUP_WINDOW", "7d"), 604_800_000);
    assert.equal(parseSetting("GATEWAY_PUSH_RETRY", "0"), 0);
    assert.equal(parseSetting("GATEWAY_LEASE", undefined), 15_000);
  });

  test("the exact line for a word", () => {
    assert.equal(refused("GATEWAY_LEASE", "abc", /./), 'GATEWAY_LEASE="abc" is not a duration (expected e.g. 500ms, 30s, 15m, 2h)');
  });

  test("a bare number is refused (15 would be 15 milliseconds), also in the public parser", () => {
    refused("GATEWAY_HEARTBEAT_INTERVAL", "15", /^GATEWAY_HEARTBEAT_INTERVAL="15" is not a duration /);
    assert.throws(() => parseDuration("500"), /"500" is not a duration/);
    assert.equal(parseDuration(500), 500, "a number is milliseconds");
    assert.throws(() => parseDuration(Number.NaN), /not a duration/);
    assert.throws(() => parseDuration(-1), /not a duration/);
  });

  test("hostile values: negative, huge, NaN, 1e309, unicode digits, control characters", () => {
    for (const raw of [...HOSTILE, "-1s", "1e3s", "5 minutes", "s", "ms"])
      refused("GATEWAY_LEASE", raw, /is not a duration \(expected e\.g\. 500ms, 30s, 15m, 2h\)$/);
    assert.equal(durationMs(`${"9".repeat(15)}d`), undefined, "beyond safe integers");
  });

  test("limits: 0 where a time must pass, beyond setTimeout's range, the dedup window up to a year", () => {
    refused("GATEWAY_LEASE", "0", /^GATEWAY_LEASE="0" is not more than 0 /);
    refused("GATEWAY_POLL_INTERVAL", "25d", /^GATEWAY_POLL_INTERVAL="25d" is more than 24d /);
    assert.equal(parseSetting("GATEWAY_DEDUP_WINDOW", "30d"), 30 * 86_400_000);
    refused("GATEWAY_DEDUP_WINDOW", "366d", /is more than 365d/);
  });
});

describe("URL", () => {
  test("Redis URLs: the form is named, the password never shown", () => {
    assert.equal(parseSetting("REDIS_URL", "rediss://u:p@h:6380/2"), "rediss://u:p@h:6380/2");
    refused(
      "REDIS_URL",
      "http://h:1",
      /^REDIS_URL="http:\/\/h:1" has the scheme http:\/\/, not redis:\/\/ or rediss:\/\/ \(expected redis:\/\/\[user:password@\]host:port\[\/db\] or rediss:\/\/… for TLS\)$/,
    );
    const message = refused("REDIS_URL", "redis://:hunter2@h:99999", /has port "99999"/);
    assert.doesNotMatch(message, /hunter2/);
    for (const raw of ["redis://h:-1", "redis://h:1e309", "redis://h:NaN", "redis://ħøšŧ:6379/x", "javascript:alert(1)", "redis://h:6379/1\n2"])
      refused("REDIS_URL", raw, /\(expected redis:\/\//);
  });

  test("TELEGRAM_API_ROOT: http or https only", () => {
    assert.equal(parseSetting("TELEGRAM_API_ROOT", "http://127.0.0.1:9/"), "http://127.0.0.1:9/");
    for (const raw of ["ftp://x", "api.telegram.org", "http://", "file:///etc/passwd"])
      refused("TELEGRAM_API_ROOT", raw, /is not an http:\/\/ or https:\/\/ URL/);
  });
});

describe("JSON (GATEWAY_HOOKS)", () => {
  test("a valid object of hooks parses", () => {
    assert.deepEqual(parseSetting("GATEWAY_HOOKS", '{"github":{"secret":"0123456789abcdef","eventType":"github.push"},"ci":{"token":"t"}}'), {
      github: { secret: "0123456789abcdef", eventType: "github.push" },
      ci: { token: "t" },
    });
  });

  test("not JSON, not an object, typos in a key, a bad hook name: refused, secrets never shown", () => {
    const secret = "hunter2-very-secret";
    const cases: Array<[string, RegExp]> = [
      [`{"github":{"secret":"${secret}"`, /is not valid JSON/],
      [`["${secret}"]`, /does not fit/],
      ["null", /does not fit/],
      [`{"github":{"secrt":"${secret}"}}`, /does not fit at github: Unrecognized key: "secrt"/],
      [`{"git hub":{"secret":"${secret}"}}`, /a hook name is letters, digits/],
      [`{"github":{"secret":""}}`, /secret is empty/],
      [`{"github":{"secret":42}}`, /does not fit at github\.secret/],
      [`{"github":{"eventType":"bad type!"}}`, /eventType is not an event type/],
      [`{"__proto__":{"secret":"${secret}"}}`, /./],
    ];
    for (const [raw, line] of cases) {
      let message: string;
      try {
        parseSetting("GATEWAY_HOOKS", raw);
        assert.ok(raw.includes("__proto__"), `${raw} was accepted`);
        continue;
      } catch (error) {
        message = (error as Error).message;
      }
      assert.match(message, line, raw);
      assert.match(
        message,
        /^GATEWAY_HOOKS="<secret, \d+ characters>" .* \(expected \{"<name>":\{"secret":"<random>"\}\} \(secret, token, eventType\)\)$/,
        raw,
      );
      assert.doesNotMatch(message, new RegExp(secret));
    }
    assert.equal(({} as Record<string, unknown>).secret, undefined, "Object.prototype untouched");
  });
});

describe("list", () => {
  test("Telegram ids: comma-separated, blanks and empty items skipped, negative chat ids allowed", () => {
    assert.deepEqual(parseSetting("TELEGRAM_ALLOWED_USERS", " 42, 43 ,,"), [42, 43]);
    assert.deepEqual(parseSetting("TELEGRAM_ALLOWED_CHATS", "-100123"), [-100123]);
    assert.deepEqual(parseSetting("TELEGRAM_ALLOWED_USERS", ","), []);
    for (const raw of ["@me", "42,abc", "1.5", "1e309", "NaN", "٤٢", "42;43", "9".repeat(40)]) {
      refused(
        "TELEGRAM_ALLOWED_USERS",
        raw,
        /^TELEGRAM_ALLOWED_USERS=".*" has ".*", which is not a numeric Telegram id \(expected numeric user ids separated by commas\)$/,
      );
    }
  });

  test("GATEWAY_QUEUE_MODES: channel=mode pairs", () => {
    assert.deepEqual(parseSetting("GATEWAY_QUEUE_MODES", "telegram=collect, websocket = steer"), [
      ["telegram", "collect"],
      ["websocket", "steer"],
    ]);
    for (const raw of ["telegram", "telegram=fast", "=collect", "telegram=collect=steer"])
      refused("GATEWAY_QUEUE_MODES", raw, /which is not channel=mode \(expected channel=mode,… \(modes: followUp, steer, collect\)\)$/);
  });
});

describe("port", () => {
  test("0 to 65535 (0: any free port)", () => {
    assert.equal(parseSetting("GATEWAY_PORT", "0"), 0);
    assert.equal(parseSetting("GATEWAY_PORT", " 65535 "), 65_535);
    assert.equal(parseSetting("GATEWAY_PORT", ""), 8787);
    for (const raw of ["65536", "-1", "80.5", "http", "1e3", "0x50", "８０", ...HOSTILE]) {
      refused("GATEWAY_PORT", raw, /^GATEWAY_PORT=".*" is not a port \(expected a number from 1 to 65535, or 0 for any free one\)$/);
    }
  });

  test("GATEWAY_HOST: a host, not a URL or a line with blanks", () => {
    assert.equal(parseSetting("GATEWAY_HOST", " :: "), "::");
    assert.equal(parseSetting("GATEWAY_HOST", "   "), "127.0.0.1", "blank is the default, loopback");
    for (const raw of ["0.0.0.0 # all", "http://0.0.0.0", "a\nb"]) refused("GATEWAY_HOST", raw, /is not valid \(expected a host name or IP address\)$/);
  });

  test("the flag that mirrors it names the flag", () => {
    assert.throws(() => parseSetting("GATEWAY_PORT", "x", "--port"), /^ConfigError: --port="x" is not a port/);
  });
});

describe("count, number, enum, boolean, text", () => {
  test("counts: digits only, within range", () => {
    assert.equal(parseSetting("GATEWAY_BATCH_SIZE", "7"), 7);
    assert.equal(parseSetting("GATEWAY_TURN_RETRIES", "0"), 0);
    refused("GATEWAY_BATCH_SIZE", "0", /^GATEWAY_BATCH_SIZE="0" is less than 1 \(expected a whole number, at least 1\)$/);
    refused("GATEWAY_TURN_RETRIES", "1001", /is more than 1000 \(expected a whole number from 0 to 1000\)$/);
    for (const raw of HOSTILE) refused("GATEWAY_BATCH_SIZE", raw, /is not a whole number/);
  });

  test("GATEWAY_CLUSTER_WAIT_REPLICAS: 0 to 16, default 1, empty is the default", () => {
    assert.equal(parseSetting("GATEWAY_CLUSTER_WAIT_REPLICAS", undefined), 1);
    assert.equal(parseSetting("GATEWAY_CLUSTER_WAIT_REPLICAS", ""), 1);
    assert.equal(parseSetting("GATEWAY_CLUSTER_WAIT_REPLICAS", "0"), 0);
    assert.equal(parseSetting("GATEWAY_CLUSTER_WAIT_REPLICAS", " 2 "), 2);
    assert.equal(resolveBusOptions({}, { GATEWAY_CLUSTER_WAIT_REPLICAS: "0" }).clusterWaitReplicas, 0);
    refused("GATEWAY_CLUSTER_WAIT_REPLICAS", "17", /is more than 16 \(expected a whole number from 0 to 16\)$/);
    for (const raw of [...HOSTILE, "-1", "1.5", "one"]) refused("GATEWAY_CLUSTER_WAIT_REPLICAS", raw, /is not a whole number/);
  });

  test("GATEWAY_SESSION_FILE_MAX: a size with a binary unit, at least 64KiB", () => {
    assert.equal(parseSetting("GATEWAY_SESSION_FILE_MAX", undefined), 8 * 1024 * 1024);
    assert.equal(parseSetting("GATEWAY_SESSION_FILE_MAX", "512KiB"), 512 * 1024);
    assert.equal(parseSetting("GATEWAY_SESSION_FILE_MAX", "1048576"), 1_048_576);
    refused("GATEWAY_SESSION_FILE_MAX", "63KiB", /is less than 64KiB \(expected a size such as 8MiB, 512KiB or 1048576\)$/);
    for (const raw of ["8 MB!", "8TiB", "-1M", "1e9", `${"9".repeat(16)}GiB`]) refused("GATEWAY_SESSION_FILE_MAX", raw, /is not a size/);
  });

  test("GATEWAY_COMPACT_AT: a number in range", () => {
    assert.equal(parseSetting("GATEWAY_COMPACT_AT", ".5"), 0.5);
    for (const raw of ["70%", "1e-1", "NaN", "0.5.5"]) refused("GATEWAY_COMPACT_AT", raw, /is not a number/);
  });

  test("enums and booleans", () => {
    assert.equal(parseSetting("GATEWAY_DELIVER_AS", "steer"), "steer");
    refused("GATEWAY_DELIVER_AS", "Steer!", /^GATEWAY_DELIVER_AS="Steer!" is not followUp or steer \(expected one of followUp, steer\)$/);
    assert.equal(parseSetting("GATEWAY_LOG_LEVEL", "WARN"), "warn");
    assert.equal(parseSetting("GATEWAY_DISABLED", "1"), true);
    assert.equal(parseSetting("GATEWAY_DISABLED", "no"), false);
    refused("GATEWAY_DISABLED", "maybe", /is not 1 or 0/);
  });

  test("secrets are described by length only", () => {
    const message = refused("GATEWAY_OWNER", "nope", /^GATEWAY_OWNER="nope" is not valid \(expected channel:address/);
    assert.ok(message);
    assert.equal(parseSetting("GATEWAY_TOKEN", "  tok  "), "tok");
  });
});
