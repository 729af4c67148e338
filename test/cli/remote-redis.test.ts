/**
 * A managed / remote Redis: TLS (rediss://) with a password. The CLI and the bus must work through
 * it, and a wrong password or an untrusted certificate must be one clear line.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { GatewayBus } from "../../src/bus/bus.js";
import { EventConsumer } from "../../src/bus/consumer.js";
import { createEvent } from "../../src/protocol/event.js";
import { runCli } from "../helpers/cli.js";
import { startRedis, type RedisServer } from "../helpers/redis-server.js";
import { skipWithout } from "../helpers/tools.js";
import { waitFor } from "../helpers/wait.js";

// The TLS certificates are made with openssl.
describe("a managed Redis with TLS and AUTH", { skip: skipWithout("openssl") }, () => {
  let redis: RedisServer & { caFile?: string };

  before(async () => {
    redis = await startRedis({ tls: true, password: "s3cret-pass" });
  });
  after(async () => {
    await redis.stop();
  });

  test("rediss:// with a password: push from the CLI, drain with the bus, status shows the URL redacted", async () => {
    assert.match(redis.url, /^rediss:\/\/:s3cret-pass@127\.0\.0\.1:\d+$/);
    const env = { REDIS_URL: redis.url, GATEWAY_REDIS_CA_FILE: redis.caFile! };
    const push = await runCli(["push", "deploy.done", "--payload", '{"ok":true}', "--json"], { env });
    assert.equal(push.code, 0, push.stderr);

    // In-process, the CA is given the way a user would for a managed Redis with a private CA.
    const secure = await GatewayBus.connect({ redisUrl: redis.url, redisCaFile: redis.caFile, persistent: true });
    const seen: string[] = [];
    const consumer = new EventConsumer({
      bus: secure,
      sessionId: "main",
      role: "central",
      durable: true,
      deliver: async ({ events }) => {
        seen.push(...events.map((e) => e.type));
      },
    });
    await consumer.start();
    await secure.push(createEvent("second.one", "test"));
    await waitFor(() => seen.length === 2, "both events drained over TLS");
    assert.deepEqual(seen, ["deploy.done", "second.one"]);
    await consumer.stop();
    await secure.close();

    const status = await runCli(["status"], { env });
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /rediss:\/\/:\*\*\*@127\.0\.0\.1/);
    assert.doesNotMatch(status.stdout, /s3cret-pass/);
  });

  test("wrong password and untrusted certificate: one clear line each, no secret printed", async () => {
    const wrong = await runCli(["status", "--timeout", "3s"], {
      env: { REDIS_URL: redis.url.replace("s3cret-pass", "nope"), NODE_EXTRA_CA_CERTS: redis.caFile! },
    });
    assert.equal(wrong.code, 3);
    assert.match(
      wrong.stderr.trim(),
      /^pi-gateway: Redis at rediss:\/\/:\*\*\*@127\.0\.0\.1:\d+ refused the credentials \(WRONGPASS[^)]*\): check the password in the URL/,
    );
    const untrusted = await runCli(["status", "--timeout", "3s"], { env: { REDIS_URL: redis.url, NODE_EXTRA_CA_CERTS: "" } });
    assert.equal(untrusted.code, 3);
    assert.match(
      untrusted.stderr.trim(),
      /^pi-gateway: TLS with Redis at rediss:.* failed \(.*(self-signed|unable to verify|certificate).*\): set GATEWAY_REDIS_CA_FILE/i,
    );
    assert.doesNotMatch(wrong.stderr + untrusted.stderr, /s3cret-pass/);
  });
});
