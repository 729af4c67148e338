/** REDIS_URL / --redis-url are checked before anything connects; empty REDIS_URL means the default. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseRedisUrl, redactUrl, resolveBusOptions } from "../../src/config/bus-options.js";
import { ConfigError } from "../../src/config/errors.js";

const FORM = /\(expected redis:\/\/\[user:password@\]host:port\[\/db\] or rediss:\/\/… for TLS\)$/;

describe("parseRedisUrl", () => {
  test("accepts redis:// and rediss:// with user, password, port, db, IPv6, no port", () => {
    for (const url of [
      "redis://127.0.0.1:6379",
      "rediss://user:p%40ss@redis.example.com:6380/2",
      "redis://:pw@[::1]:6379",
      "redis://localhost",
      "redis://h:6379/",
    ]) {
      assert.equal(parseRedisUrl(url, "REDIS_URL"), url);
    }
  });

  test("refuses other schemes, bad ports, bad db, empty and garbage, naming the source and the expected form", () => {
    const cases: Array<[string, RegExp]> = [
      ["http://127.0.0.1:6379", /^REDIS_URL="http:\/\/127\.0\.0\.1:6379" has the scheme http:\/\/, not redis:\/\/ or rediss:\/\/ /],
      ["redis://host:notaport", /^REDIS_URL="redis:\/\/host:notaport" has port "notaport", not a number from 1 to 65535 /],
      ["redis://host:99999", /^REDIS_URL=".*" has port "99999", not a number from 1 to 65535 /],
      ["redis://host:0", /^REDIS_URL=".*" has port "0", not a number from 1 to 65535 /],
      ["redis://host:6379/zero", /^REDIS_URL=".*" has database "zero", not a number /],
      ["redis://", /^REDIS_URL="redis:\/\/" has no host /],
      ["", /^REDIS_URL="" is empty /],
      ["   ", /^REDIS_URL=" {3}" is empty /],
      ["garbage", /^REDIS_URL="garbage" is not a URL /],
      ["127.0.0.1:6379", /^REDIS_URL="127\.0\.0\.1:6379" is not a URL /],
    ];
    for (const [value, message] of cases) {
      assert.throws(
        () => parseRedisUrl(value, "REDIS_URL"),
        (error: Error) => {
          assert.ok(error instanceof ConfigError, value);
          assert.match(error.message, message, value);
          assert.match(error.message, FORM, value);
          return true;
        },
      );
    }
  });

  test("a refused URL never shows its password", () => {
    for (const value of ["user:hunter2@host:6379", "redis://u:hunter2@bad host:1", "http://:hunter2@h:1"]) {
      assert.throws(
        () => parseRedisUrl(value, "--redis-url"),
        (error: Error) => !error.message.includes("hunter2") && error.message.startsWith('--redis-url="'),
      );
    }
    assert.equal(redactUrl("user:hunter2@host:6379"), "user:***@host:6379");
    assert.equal(redactUrl("redis://:hunter2@127.0.0.1:6379/1"), "redis://:***@127.0.0.1:6379/1");
  });
});

describe("REDIS_URL in resolveBusOptions", () => {
  test("unset and empty give the default; set gives itself; malformed is a ConfigError naming REDIS_URL", () => {
    assert.equal(resolveBusOptions({}, {}).redisUrl, "redis://127.0.0.1:6379");
    assert.equal(resolveBusOptions({}, { REDIS_URL: "" }).redisUrl, "redis://127.0.0.1:6379");
    assert.equal(resolveBusOptions({}, { REDIS_URL: "rediss://h:1" }).redisUrl, "rediss://h:1");
    assert.throws(() => resolveBusOptions({}, { REDIS_URL: "redis://h:notaport" }), /^ConfigError: REDIS_URL="redis:\/\/h:notaport" has port "notaport"/);
    assert.throws(() => resolveBusOptions({ redisUrl: "http://h" }, {}), /redisUrl="http:\/\/h" has the scheme http:\/\//);
  });

  test("the other settings: empty means the default, bad values are ConfigErrors too (exit 2 in the CLI)", () => {
    assert.equal(resolveBusOptions({}, { GATEWAY_PUSH_RETRY: "", GATEWAY_CONNECT_TIMEOUT: "" }).pushRetryMs, 30_000);
    assert.equal(resolveBusOptions({}, { GATEWAY_CONNECT_TIMEOUT: "" }).connectTimeoutMs, 1_000);
    assert.equal(resolveBusOptions({}, { GATEWAY_CONNECT_TIMEOUT: "5s" }).connectTimeoutMs, 5_000);
    assert.throws(
      () => resolveBusOptions({}, { GATEWAY_LEASE: "soon" }),
      (error: Error) => error instanceof ConfigError && /^GATEWAY_LEASE="soon" is not a duration \(expected e\.g\. 500ms, 30s, 15m, 2h\)$/.test(error.message),
    );
    assert.throws(
      () => resolveBusOptions({}, { GATEWAY_BATCH_SIZE: "0" }),
      (error: Error) => error instanceof ConfigError && /^GATEWAY_BATCH_SIZE="0" is less than 1 /.test(error.message),
    );
  });
});

describe("REDIS_CLUSTER_NODES in resolveBusOptions", () => {
  const seeds = (value: string | undefined) => resolveBusOptions({}, value === undefined ? {} : { REDIS_CLUSTER_NODES: value }).clusterNodes;
  const refusal = (value: string, message: RegExp) =>
    assert.throws(
      () => seeds(value),
      (error: Error) => {
        assert.ok(error instanceof ConfigError, value);
        assert.match(error.message, message, value);
        assert.match(error.message, /\(expected redis:\/\/host:port,redis:\/\/host:port,… \(seed nodes of a Redis Cluster\)\)$/, value);
        assert.ok(!error.message.includes("hunter2"), error.message);
        return true;
      },
    );

  test("unset, empty and blanks mean none; a list gives its items, blank items skipped", () => {
    assert.equal(seeds(undefined), undefined);
    assert.equal(seeds(""), undefined);
    assert.equal(seeds(" , "), undefined);
    assert.deepEqual(seeds(" redis://10.0.0.1:7000,, rediss://u:p@[::1]:7001 ,redis://h:7002/0"), [
      "redis://10.0.0.1:7000",
      "rediss://u:p@[::1]:7001",
      "redis://h:7002/0",
    ]);
  });

  test("malformed and hostile items are refused naming the item, its problem and the form, never a password", () => {
    refusal(
      "redis://h:7000,redis://h:notaport",
      /^REDIS_CLUSTER_NODES=".*" has "redis:\/\/h:notaport", which has port "notaport", not a number from 1 to 65535 /,
    );
    refusal("10.0.0.1:7000", /^REDIS_CLUSTER_NODES=".*" has "10\.0\.0\.1:7000", which is not a URL /);
    refusal("redis://:hunter2@h:7000,ftp://:hunter2@h:1", /has "ftp:\/\/:\*\*\*@h:1", which has the scheme ftp:\/\//);
    refusal("redis://:hunter2@h:7000/3", /has "redis:\/\/:\*\*\*@h:7000\/3", which names a database, but a Redis Cluster has only database 0 /);
    refusal("redis://h:7000\nredis://evil:1", /which has blanks or control characters|is not a valid URL/);
  });
});
