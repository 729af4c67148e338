/**
 * FAULTS under load:
 *  (a) Redis kill -9 + restart (AOF, appendfsync always), three times during 2,000 ev/s x 30 s;
 *  (b) network cut: the Redis process frozen (SIGSTOP) for 8 s, longer than the 5 s connect
 *      timeout, during load, with a CLI push started inside the freeze;
 *  (c) the daemon killed -9 mid-turn three times in a row with Telegram prompts in flight;
 *  (d) the Telegram Bot API answering 429 (retry_after) / 500 / 409 on getUpdates and 429 / 500
 *      on sendMessage while messages flow through the daemon.
 * Each with its own private Redis servers, fakes and temp dirs.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { GatewayBus } from "../../src/bus/bus.js";
import { runCli } from "../helpers/cli.js";
import type { DaemonProcess } from "../helpers/daemon.js";
import { startFakeLlm, type FakeLlm } from "../helpers/fake-llm.js";
import { startFakeTelegram, type FakeTelegram } from "../helpers/fake-telegram.js";
import { createPiEnv, type PiEnv } from "../helpers/pi-env.js";
import { startRedis, type RedisServer } from "../helpers/redis-server.js";
import { sleep, waitFor } from "../helpers/wait.js";
import { runBusLoad, type BusLoadResult } from "./bus-load.js";
import { startChaosDaemon } from "./daemon-kit.js";
import { figure, killAll, seconds } from "./harness.js";

const OWNER = 4242;
const STRANGER = 6666;

const cleanups: Array<() => Promise<unknown> | unknown> = [];
after(async () => {
  await killAll();
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
});

function assertLossless(result: BusLoadResult): void {
  assert.equal(result.lost, 0, "no event lost");
  assert.equal(result.extra, 0, "nothing delivered that was not pushed");
  assert.equal(result.duplicated, 0, `no event delivered twice (the host check caught ${result.caught} re-deliveries)`);
  assert.equal(result.misrouted, 0, "each event reached exactly its target");
  assert.equal(result.deadLetters, 0, "nothing dead-lettered");
  assert.equal(result.leftInQueues, 0, "queues and in-flight sets empty");
  assert.deepEqual(
    result.producerExitCodes,
    result.reports.map(() => 0),
    "no producer crashed",
  );
  assert.deepEqual(result.consumersAlive, [true, true, true, true, true], "no consumer crashed");
  assert.equal(
    result.reports.reduce((sum, r) => sum + r.misrouted, 0),
    0,
    "every push went to exactly [target]",
  );
}

const producerSummary = (r: BusLoadResult) =>
  `${r.reports.reduce((s, p) => s + p.retried, 0)} pushes retried (${r.reports.reduce((s, p) => s + p.duplicateReplies, 0)} had landed before the error and came back "duplicate", ${r.reports.reduce((s, p) => s + p.gaveUp, 0)} retry windows exhausted and restarted)`;

describe("faults under load", () => {
  test("(a) Redis kill -9 and restart (AOF) three times during 2,000 ev/s x 30 s: nothing lost, nothing twice", { timeout: 240_000 }, async () => {
    const downtimes: number[] = [];
    const result = await runBusLoad({
      rate: 2000,
      seconds: 30,
      producers: 2,
      leaseMs: 5000,
      async during({ redis, t0 }) {
        for (const at of [8_000, 16_000, 24_000]) {
          await sleep(Math.max(0, t0 + at - Date.now()));
          const down = Date.now();
          await redis.kill("SIGKILL");
          await sleep(1000);
          await redis.restart();
          downtimes.push(Date.now() - down);
        }
      },
    });
    figure(
      `FAULT-REDIS-KILL: 3 x kill -9 + restart of Redis (AOF appendfsync always; down ${downtimes.map((d) => seconds(d)).join(", ")}) during 2000 ev/s x 30s: ` +
        `${result.pushed} pushed, ${result.delivered} delivered, ${result.lost} lost, ${result.duplicated} duplicated, ${result.deadLetters} dead-lettered; ` +
        `${producerSummary(result)}; ${result.caught} re-deliveries caught by the host check; push max ${Math.max(...result.reports.map((r) => r.maxLatencyMs))} ms; ` +
        `drained ${seconds(result.drainMs)} after the last push; producers and consumers alive`,
    );
    assertLossless(result);
  });

  test(
    "(b) network cut: Redis frozen (SIGSTOP) for 8 s during load, a CLI push inside the freeze: nothing lost, nothing twice, nobody crashed",
    { timeout: 240_000 },
    async () => {
      let cli: { code: number; stderr: string; ms: number } | undefined;
      const result = await runBusLoad({
        rate: 2000,
        seconds: 24,
        producers: 2,
        leaseMs: 15_000,
        async during({ redis, t0, extraIds }) {
          await sleep(Math.max(0, t0 + 8_000 - Date.now()));
          redis.pause();
          try {
            await sleep(500);
            // A one-shot client connecting during the freeze: its connect timeout (5s) passes, the push retry window covers it.
            const started = Date.now();
            const pending = runCli(["push", "chaos.cli", "--id", "cli-during-freeze", "--target", "s1", "--payload", '{"during":"freeze"}'], {
              env: { REDIS_URL: redis.url, HOME: redis.dir },
              timeoutMs: 60_000,
            }).then((r) => (cli = { code: r.code, stderr: r.stderr, ms: Date.now() - started }));
            extraIds.get("s1")!.add("cli-during-freeze");
            await sleep(7_500);
            redis.resume();
            await pending;
          } finally {
            redis.resume();
          }
        },
      });
      figure(
        `FAULT-NETWORK-CUT: Redis frozen 8s (SIGSTOP, > 5s connect timeout) during 2000 ev/s x 24s: ${result.pushed} pushed, ${result.delivered} delivered, ` +
          `${result.lost} lost, ${result.duplicated} duplicated; push max ${Math.max(...result.reports.map((r) => r.maxLatencyMs))} ms (stalled, not failed); ${producerSummary(result)}; ` +
          `CLI push started in the freeze exited ${cli?.code} after ${seconds(cli?.ms ?? 0)}; drained ${seconds(result.drainMs)} after the last push; 0 crashed processes`,
      );
      assert.equal(cli?.code, 0, `the CLI push rode out the freeze: ${cli?.stderr}`);
      assertLossless(result);
    },
  );
});

describe("the daemon under faults", () => {
  let redis: RedisServer;
  let bus: GatewayBus;
  let llm: FakeLlm;
  let telegram: FakeTelegram;
  let piEnv: PiEnv;

  /** Fresh servers and fakes per test (each cleanup closes its own instance). */
  const setUp = async () => {
    const r = (redis = await startRedis({ aof: true }));
    cleanups.push(() => r.stop());
    const b = (bus = await GatewayBus.connect({ redisUrl: r.url }));
    cleanups.push(() => b.close());
    const l = (llm = await startFakeLlm());
    cleanups.push(() => l.close());
    const t = (telegram = await startFakeTelegram());
    cleanups.push(() => t.close());
    const p = (piEnv = createPiEnv({ llmUrl: l.url }));
    cleanups.push(() => p.cleanup());
  };
  const daemon = () => startChaosDaemon({ piEnv, redisUrl: redis.url, telegram: { token: telegram.token, apiRoot: telegram.apiRoot, allowedUsers: [OWNER] } });
  /** Bot messages in the owner's chat that mention `key` (final answers and any leftover previews). */
  const mentions = (key: string) => telegram.messagesIn(OWNER).filter((t) => t.includes(`${key}:`));
  const finals = (key: string) => telegram.messagesIn(OWNER).filter((t) => t.includes(`done-${key}.`));

  test("(c) daemon kill -9 mid-turn, three times in a row, Telegram prompts in flight: each answered exactly once", { timeout: 300_000 }, async () => {
    await setUp();
    // Each reply streams for ~2.5 s and ends with a marker, so a killed turn has no final yet.
    llm.setResponder((r) => {
      const key = /(job-\d+)/.exec(r.lastUserText)?.[1] ?? "other";
      return { text: `${key}: ${Array.from({ length: 30 }, (_, i) => `part${i}`).join(" ")} done-${key}.`, chunkDelayMs: 80 };
    });
    const jobs = Array.from({ length: 6 }, (_, i) => `job-${i + 1}`);
    let current: DaemonProcess = await daemon();
    for (const job of jobs) {
      telegram.injectMessage({ chatId: OWNER, userId: OWNER, text: `please do ${job}` });
      await sleep(50);
    }
    telegram.injectMessage({ chatId: STRANGER, userId: STRANGER, text: "please do job-666" });
    const killedJobs: string[] = [];
    const restarts: number[] = [];
    for (let round = 0; round < 3; round++) {
      // Mid-turn: the LLM is streaming the answer of a job not answered yet.
      const since = llm.requests.length;
      const request = await llm.waitForRequest((r) => r.seq > since && /job-\d+/.test(r.lastUserText) && !/done-/.test(r.lastUserText), 60_000);
      const job = /(job-\d+)/.exec(request.lastUserText)![1]!;
      await sleep(900);
      assert.equal(finals(job).length, 0, `${job} not finished when killed`);
      await current.kill();
      killedJobs.push(job);
      const started = Date.now();
      current = await daemon();
      restarts.push(Date.now() - started);
    }
    await waitFor(() => jobs.every((job) => finals(job).length >= 1), "every job answered", 120_000, 100);
    await sleep(3000); // a second answer would come now
    const answers = jobs.map((job) => finals(job).length);
    const leftovers = jobs.reduce((sum, job) => sum + mentions(job).length - finals(job).length, 0);
    const humanQueue = await bus.client.xlen("agent:daemon:queue:human");
    const strangerCalls = telegram.callsTo(STRANGER).filter((c) => c.method !== "getUpdates").length;
    figure(
      `FAULT-DAEMON-KILL: daemon kill -9 mid-turn 3 times in a row (killed while answering ${killedJobs.join(", ")}) with ${jobs.length} Telegram prompts in flight: ` +
        `${answers.filter((n) => n === 1).length}/${jobs.length} answered exactly once, ${answers.filter((n) => n > 1).length} answered twice, ${answers.filter((n) => n === 0).length} unanswered; ` +
        `${leftovers} partial live-preview message(s) of killed turns left in the chat; restart to listening ${restarts.map((ms) => seconds(ms)).join(", ")}; ` +
        `human queue left ${humanQueue}; ${strangerCalls} messages to an unlisted chat`,
    );
    assert.deepEqual(
      answers,
      jobs.map(() => 1),
      "each prompt answered exactly once",
    );
    assert.equal(humanQueue, 0, "every command left the queue");
    assert.equal(strangerCalls, 0, "nothing sent to the unlisted chat");
    await current.stop();
  });

  test(
    "(d) Telegram API 429 / 500 / 409 on getUpdates and 429 / 500 on sendMessage while messages flow: every message answered exactly once",
    { timeout: 240_000 },
    async () => {
      await setUp();
      llm.setResponder((r) => {
        const key = /(msg-\d+)/.exec(r.lastUserText)?.[1] ?? "other";
        return { text: `${key}: answer in a few words done-${key}.`, chunkDelayMs: 30 };
      });
      const current = await daemon();
      // Let the first long poll start, so faults hit a running poller.
      await waitFor(() => telegram.polling, "daemon polling Telegram", 30_000);
      const keys: string[] = [];
      const faultPlan: Array<[string, Parameters<FakeTelegram["failNext"]>[1]]> = [
        ["getUpdates", { error_code: 429, retry_after: 1 }],
        ["sendMessage", { error_code: 429, retry_after: 1 }],
        ["getUpdates", { error_code: 500 }],
        ["sendMessage", { error_code: 500 }],
        ["getUpdates", { error_code: 409 }],
        ["sendMessage", { error_code: 429, retry_after: 2 }],
        ["getUpdates", { error_code: 500 }],
        ["sendMessage", { error_code: 500 }],
        ["getUpdates", { error_code: 409 }],
        ["getUpdates", { error_code: 429, retry_after: 2 }],
        ["sendMessage", { error_code: 500 }],
        ["sendMessage", { error_code: 429, retry_after: 1 }],
      ];
      for (const [i, [method, fault]] of faultPlan.entries()) {
        telegram.failNext(method, fault);
        const key = `msg-${i + 1}`;
        keys.push(key);
        telegram.injectMessage({ chatId: OWNER, userId: OWNER, text: `question ${key}` });
        telegram.injectMessage({ chatId: STRANGER, userId: STRANGER, text: `stranger ${key}` });
        await sleep(700);
      }
      await waitFor(() => keys.every((key) => finals(key).length >= 1), "every message answered", 180_000, 100);
      await sleep(3000); // a second answer would come now
      const answers = keys.map((key) => finals(key).length);
      const failedCalls = telegram.sent.filter((c) => c.outcome !== undefined && c.outcome !== true);
      const byKind = (method: string, code: number) => failedCalls.filter((c) => c.method === method && c.outcome === code).length;
      const strangerCalls = telegram.callsTo(STRANGER).filter((c) => c.method !== "getUpdates").length;
      const leftovers = keys.reduce((sum, key) => sum + mentions(key).length - finals(key).length, 0);
      figure(
        `FAULT-TELEGRAM: ${keys.length} messages (plus ${keys.length} from an unlisted chat) while the fake Bot API failed getUpdates ${byKind("getUpdates", 429)}x429 ${byKind("getUpdates", 500)}x500 ${byKind("getUpdates", 409)}x409 ` +
          `and sendMessage ${byKind("sendMessage", 429)}x429 ${byKind("sendMessage", 500)}x500: ${answers.filter((n) => n === 1).length}/${keys.length} answered exactly once, ` +
          `${answers.filter((n) => n > 1).length} twice, ${answers.filter((n) => n === 0).length} unanswered, ${leftovers} stale previews, ${strangerCalls} messages to the unlisted chat`,
      );
      assert.deepEqual(
        answers,
        keys.map(() => 1),
        "each message answered exactly once",
      );
      assert.equal(strangerCalls, 0, "nothing sent to the unlisted chat");
      assert.equal(leftovers, 0, "no stale partial preview left behind");
      assert.ok(current.child.exitCode === null, "daemon alive");
      assert.equal(failedCalls.length, faultPlan.length, "every injected fault was served");
      await current.stop();
    },
  );
});
