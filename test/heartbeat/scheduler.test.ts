import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { GatewayBus, type PushResult } from "../../src/bus/bus.js";
import { GatewayError } from "../../src/bus/errors.js";
import { cronSchedule, intervalSchedule } from "../../src/heartbeat/schedule.js";
import { startHeartbeatScheduler, type HeartbeatBeat } from "../../src/heartbeat/scheduler.js";
import { HEARTBEAT_EVENT_TYPE, type GatewayEvent } from "../../src/protocol/event.js";
import type { Logger } from "../../src/util/logger.js";
import { useRedisBus } from "../helpers/redis-bus.js";
import { sleep, waitFor } from "../helpers/wait.js";

let bus: GatewayBus;

useRedisBus({}, (_redis, b) => {
  bus = b;
});
describe("schedules", () => {
  test("intervals that divide a minute, an hour or a day are clock-aligned patterns", () => {
    assert.equal(intervalSchedule(1_000).pattern, "* * * * * *");
    assert.equal(intervalSchedule(15_000).pattern, "*/15 * * * * *");
    assert.equal(intervalSchedule(15 * 60_000).pattern, "0 */15 * * * *");
    assert.equal(intervalSchedule(60 * 60_000).pattern, "0 0 * * * *");
    assert.equal(intervalSchedule(6 * 3_600_000).pattern, "0 0 */6 * * *");
    assert.equal(intervalSchedule(86_400_000).pattern, "0 0 0 * * *");
    assert.equal(intervalSchedule(15 * 60_000).description, "15m");
  });

  test("other intervals use croner's interval option, first beat one interval after the start", () => {
    const now = Date.UTC(2030, 0, 1, 12, 0, 0);
    const schedule = intervalSchedule(90_000, now);
    assert.equal(schedule.pattern, "* * * * * *");
    assert.equal(schedule.options.interval, 90);
    assert.deepEqual(schedule.options.startAt, new Date(now + 90_000));
  });

  test("bad schedules fail with a clear message", () => {
    assert.throws(() => intervalSchedule(300), /heartbeat interval must be whole seconds, at least 1s \(got 300ms\)/);
    assert.throws(() => intervalSchedule(1_500), /whole seconds/);
    assert.throws(() => cronSchedule("every minute"), /invalid cron pattern "every minute": .*five, six.* parts are required/);
    assert.throws(() => cronSchedule("0 0 0 1 1 * 2030"), /invalid cron pattern "0 0 0 1 1 \* 2030": .*exactly 5 or 6 parts/);
    assert.throws(() => cronSchedule(""), /invalid cron pattern "": /);
    assert.throws(() => cronSchedule("61 * * * *"), /invalid cron pattern "61 \* \* \* \*": Invalid value for minute: 61/);
    assert.throws(() => cronSchedule("0 0 30 2 *"), /cron pattern "0 0 30 2 \*" never fires/);
    assert.throws(() => startHeartbeatScheduler({ bus, intervalMs: 60_000, cron: "* * * * *" }), /either an interval or a cron pattern/);
  });
});

// Concurrent: only the first test uses Redis, the others a stand-in bus; each waits on the clock.
describe("startHeartbeatScheduler", { concurrency: true }, () => {
  test("beats land in main while nobody is registered, then in the central session; stop() stops them", async () => {
    const beats: HeartbeatBeat[] = [];
    const errors: Error[] = [];
    // croner fires on whole seconds, so 1s is the shortest interval there is.
    const scheduler = startHeartbeatScheduler({ bus, intervalMs: 1_000, source: "test-hb", onBeat: (b) => beats.push(b), onError: (e) => errors.push(e) });
    try {
      assert.ok(scheduler.nextRun()!.getTime() - Date.now() <= 1_000);
      await waitFor(() => beats.length >= 1, "first beat", 3_000);
      assert.deepEqual(beats[0]!.result.sessions, ["main"]);

      await bus.register({ id: "gateway", role: "central", durable: true, instance: "x" });
      await waitFor(() => beats.some((b) => b.result.sessions.includes("gateway")), "a beat to the central session", 3_000);
    } finally {
      await scheduler.stop();
    }
    assert.deepEqual(errors, []);
    assert.equal(scheduler.beats, beats.length);
    assert.equal(scheduler.nextRun(), null);

    const main = await bus.claim("main");
    const central = await bus.claim("gateway");
    const all = [...main.events, ...central.events];
    assert.equal(all.length, beats.length, "every beat is queued exactly once");
    assert.ok(main.events.length >= 1 && central.events.length >= 1);
    for (const event of all) {
      assert.equal(event.type, HEARTBEAT_EVENT_TYPE);
      assert.equal(event.source, "test-hb");
      assert.deepEqual(Object.keys(event.payload as object).sort(), ["host", "interval", "pid"]);
      assert.equal((event.payload as { interval: string }).interval, "1s");
      assert.equal((event.payload as { pid: number }).pid, process.pid);
    }

    const count = beats.length;
    await sleep(1_300);
    assert.equal(beats.length, count, "no beat after stop()");
    assert.equal(await bus.pending("gateway"), 0);
  });

  test("a failing push is reported, never overlapped by the next beat, and the schedule goes on", async () => {
    const warnings: string[] = [];
    const logger: Logger = { debug: () => undefined, info: () => undefined, error: () => undefined, warn: (_o, msg) => warnings.push(msg ?? "") };
    const errors: Error[] = [];
    let calls = 0;
    let concurrent = 0;
    let maxConcurrent = 0;
    const fakeBus = {
      async pushWithRetry(event: GatewayEvent): Promise<PushResult> {
        calls++;
        concurrent++;
        maxConcurrent = Math.max(maxConcurrent, concurrent);
        try {
          // The first push hangs past the next tick, then fails as an outage would.
          if (calls === 1) {
            await sleep(1_500);
            throw new GatewayError("Redis unreachable for 30s", "REDIS_UNREACHABLE");
          }
          return { status: "pushed", sessions: ["main"], undrained: [], event, attempts: 1 };
        } finally {
          concurrent--;
        }
      },
    };
    const scheduler = startHeartbeatScheduler({ bus: fakeBus, intervalMs: 1_000, logger, onError: (e) => errors.push(e) });
    try {
      await waitFor(() => scheduler.beats >= 1, "a beat after the failure", 5_000);
    } finally {
      await scheduler.stop();
    }
    assert.equal(maxConcurrent, 1, "beats never overlap");
    assert.equal(errors.length, 1);
    assert.match(errors[0]!.message, /Redis unreachable/);
    assert.ok(
      warnings.some((w) => /still in progress; skipping/.test(w)),
      `a skipped beat was logged: ${JSON.stringify(warnings)}`,
    );
  });

  test("a throwing onError callback does not escape", async () => {
    const fakeBus = { pushWithRetry: () => Promise.reject(new Error("boom")) };
    let called = 0;
    const scheduler = startHeartbeatScheduler({
      bus: fakeBus,
      cron: "* * * * * *",
      onError: () => {
        called++;
        throw new Error("callback bug");
      },
    });
    try {
      await waitFor(() => called >= 1, "onError", 3_000);
    } finally {
      await scheduler.stop();
    }
    assert.equal(scheduler.beats, 0);
  });
});
