/** One classification of Redis trouble for every command: why it failed decides what we advise. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { classifyRedisError, RedisUnreachableError } from "../../src/bus/errors.js";
import { isConnectionError } from "../../src/bus/producing.js";

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

test("connection errors sort into refused, timeout, auth, tls, not-found, lost and other", () => {
  const cases: Array<[Error | undefined, string]> = [
    [withCode("connect ECONNREFUSED 127.0.0.1:1", "ECONNREFUSED"), "refused"],
    [withCode("connect ETIMEDOUT", "ETIMEDOUT"), "timeout"],
    [undefined, "timeout"],
    [new Error("WRONGPASS invalid username-password pair or user is disabled."), "auth"],
    [new Error("NOAUTH Authentication required."), "auth"],
    [withCode("self-signed certificate in certificate chain", "SELF_SIGNED_CERT_IN_CHAIN"), "tls"],
    [withCode("Hostname/IP does not match certificate's altnames", "ERR_TLS_CERT_ALTNAME_INVALID"), "tls"],
    [withCode("getaddrinfo ENOTFOUND redis.invalid", "ENOTFOUND"), "not-found"],
    [withCode("write ECONNRESET", "ECONNRESET"), "lost"],
    [new Error("Connection is closed."), "lost"],
    [new Error("something new"), "other"],
  ];
  for (const [error, failure] of cases) assert.equal(classifyRedisError(error).failure, failure, error?.message ?? "no error");
});

test("the message is one line: what was tried, why, what to do; auth and TLS are not worth retrying", () => {
  const url = "redis://:***@db:6379";
  const refused = new RedisUnreachableError(url, { failure: "refused", detail: "connect ECONNREFUSED" });
  assert.equal(
    refused.message,
    "Redis at redis://:***@db:6379 refused the connection: start it (redis-server --appendonly yes, or pi-gateway daemon, which starts its own) or set REDIS_URL / --redis-url to where it runs",
  );
  assert.equal(refused.code, "REDIS_UNREACHABLE");
  assert.equal(refused.retryable, true);

  const slow = new RedisUnreachableError(url, { failure: "timeout", waitedMs: 1_500 });
  assert.match(slow.message, /^Redis at redis:\/\/:\*\*\*@db:6379 did not answer within 1\.5s: .*GATEWAY_CONNECT_TIMEOUT \/ --timeout/);

  const auth = new RedisUnreachableError(url, classifyRedisError(new Error("WRONGPASS invalid username-password pair")));
  assert.match(auth.message, /refused the credentials \(WRONGPASS .*\): check the password in the URL: redis:\/\/\[user:password@\]host:port\[\/db\]/);
  assert.equal(auth.retryable, false);

  const tls = new RedisUnreachableError(
    "rediss://db:6380",
    classifyRedisError(withCode("unable to verify the first certificate", "UNABLE_TO_VERIFY_LEAF_SIGNATURE")),
  );
  assert.match(tls.message, /^TLS with Redis at rediss:\/\/db:6380 failed \(unable to verify the first certificate\): set GATEWAY_REDIS_CA_FILE/);
  assert.equal(tls.retryable, false);

  const plainToTls = new RedisUnreachableError(url, classifyRedisError(withCode("write ECONNRESET", "ECONNRESET")));
  assert.match(plainToTls.message, /closed the connection \(write ECONNRESET\): .*a TLS-only server needs rediss:\/\//);

  assert.match(refused.withNote("kept trying for 30s").message, /^Redis at .* refused the connection \(kept trying for 30s\): start it/);
  for (const error of [refused, slow, auth, tls, plainToTls]) assert.doesNotMatch(error.message, /\n/);
});

test("a producer retries a command aborted because its node's connection died (kill -9 of a cluster primary)", () => {
  const aborted = Object.assign(new Error("Command aborted due to connection close"), { name: "AbortError" });
  assert.equal(isConnectionError(aborted), true);
  assert.equal(isConnectionError(new Error("ERR unknown command")), false);
});
