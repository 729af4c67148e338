import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, beforeEach, describe, test } from "node:test";
import { GatewayBus } from "../../src/bus/bus.js";
import { crontabLine } from "../../src/heartbeat/crontab.js";
import { HEARTBEAT_EVENT_TYPE } from "../../src/protocol/event.js";
import { startRedis, type RedisServer } from "../helpers/redis-server.js";
import { waitFor } from "../helpers/wait.js";

const run = promisify(execFile);

let redis: RedisServer;
let bus: GatewayBus;
let binDir: string;

before(async () => {
  redis = await startRedis();
  bus = await GatewayBus.connect({ redisUrl: redis.url });
  binDir = mkdtempSync(join(tmpdir(), "pigw-bin-"));
});
after(async () => {
  await bus.close();
  await redis.stop();
  rmSync(binDir, { recursive: true, force: true });
});
beforeEach(async () => {
  await bus.client.flushall();
});

async function which(tool: string): Promise<string> {
  return (await run("/bin/sh", ["-c", `command -v ${tool}`])).stdout.trim();
}

/** What cron does with a line: drop the five schedule fields, turn `\%` into `%`, run with sh. */
async function runLikeCron(line: string, env: Record<string, string> = {}): Promise<void> {
  const command = line.split(" ").slice(5).join(" ");
  // An unescaped % would end the command there (cron makes it a newline): there must be none.
  assert.doesNotMatch(command.replace(/\\%/g, ""), /%/, "every % is escaped");
  await run("/bin/sh", ["-c", command.replace(/\\%/g, "%")], { env: { ...process.env, ...env } });
}

describe("crontabLine", () => {
  test("the schedule and the validation of the interval", () => {
    assert.match(crontabLine(), /^\*\/15 \* \* \* \* /);
    assert.match(crontabLine({ intervalMinutes: 1 }), /^\* \* \* \* \* /);
    assert.match(crontabLine({ intervalMinutes: 5 }), /^\*\/5 \* \* \* \* /);
    assert.match(crontabLine({ intervalMinutes: 60 }), /^0 \* \* \* \* /);
    for (const bad of [0, 7, 45, 1.5, 90]) {
      assert.throws(() => crontabLine({ intervalMinutes: bad }), /crontab heartbeat interval must be one of 1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60 minutes/);
    }
    assert.throws(() => crontabLine({ prefix: "a b" }), /prefix "a b" must use letters/);
  });

  test("the line, run as cron would with only redis-cli and date on PATH (no uuidgen, no /proc), queues a heartbeat that is delivered", async () => {
    const bare = join(binDir, "bare");
    mkdirSync(bare);
    for (const tool of ["redis-cli", "date"]) symlinkSync(await which(tool), join(bare, tool));
    const line = crontabLine({ redisCli: `redis-cli -p ${redis.port}` });
    assert.doesNotMatch(line, /uuidgen|\/proc\//, "the line depends on neither");
    const started = Date.now();
    await runLikeCron(line, { PATH: bare });
    const claimed = await bus.claim("main");
    assert.equal(claimed.deadLettered, 0, "the entry passes the schema");
    assert.equal(claimed.events.length, 1);
    const event = claimed.events[0]!;
    assert.equal(event.type, HEARTBEAT_EVENT_TYPE);
    assert.equal(event.source, "cron");
    assert.match(event.id, /^auto-[0-9a-f]{40}$/, "an id assigned from the content");
    assert.ok(event.ts >= Math.floor(started / 1000) * 1000 && event.ts <= Date.now(), `ts is a ms timestamp: ${event.ts}`);
  });

  test("-u <url> and a prefix are honoured; PUBLISH wakes the consumer", async () => {
    const sub = bus.duplicateClient("test:sub");
    const notes: string[] = [];
    try {
      await sub.subscribe("hb:notify:main");
      sub.on("message", (_channel: string, message: string) => notes.push(message));
      await runLikeCron(crontabLine({ redisUrl: redis.url, prefix: "hb" }));
      await waitFor(() => notes.length > 0, "the PUBLISH", 2_000);
      const prefixed = await GatewayBus.connect({ redisUrl: redis.url, prefix: "hb" });
      try {
        const claimed = await prefixed.claim("main");
        assert.equal(claimed.events[0]?.type, HEARTBEAT_EVENT_TYPE);
      } finally {
        await prefixed.close();
      }
      assert.deepEqual(
        notes.map((n) => JSON.parse(n)),
        [{ type: HEARTBEAT_EVENT_TYPE }],
      );
    } finally {
      sub.disconnect();
    }
  });

  test("a URL with a quote or a % survives the shell and the crontab escaping", () => {
    const line = crontabLine({ redisUrl: "redis://:pa'ss%41@h:1" });
    assert.ok(line.includes(`-u 'redis://:pa'\\''ss\\%41@h:1'`), line);
  });
});
