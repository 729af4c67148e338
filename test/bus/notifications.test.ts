/**
 * Owner notifications (src/bus/notifications.ts): kept in Redis until delivered, journaled, marked
 * once; and the time specs schedules accept (src/bus/schedule-spec.ts), at their edges.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { GatewayBus } from "../../src/bus/bus.js";
import { NOTIFICATION_TEXT_MAX } from "../../src/bus/notifications.js";
import { checkScheduleId, checkScheduleText, nextDueAfter, resolveScheduleTime } from "../../src/bus/schedule-spec.js";
import { useRedisBus } from "../helpers/redis-bus.js";

let bus: GatewayBus;
useRedisBus({ flushEach: true }, (_r, b) => (bus = b));

describe("notifications", () => {
  test("kept pending and journaled until marked; marked once; earlier ones count as delivered too", async () => {
    const first = await bus.notifications.notify({ text: "build done\nsecond line", from: "cli" });
    const second = await bus.notifications.notify({ text: "disk full", from: "sat-1", file: "/tmp/report.txt" });
    assert.equal(await bus.notifications.pendingCount(), 2);
    const pending = await bus.notifications.pending();
    assert.deepEqual(
      pending.map((n) => [n.text, n.from, n.file]),
      [
        ["build done\nsecond line", "cli", undefined],
        ["disk full", "sat-1", "/tmp/report.txt"],
      ],
    );
    const journal = await bus.journal(10);
    assert.deepEqual(
      journal.map((e) => [e.kind, e.source, e.reply]),
      [
        ["notify", "cli", "build done"],
        ["notify", "sat-1", "disk full"],
      ],
    );
    assert.equal(await bus.notifications.markDelivered(first.id, ["telegram", "websocket"]), true);
    assert.equal(await bus.notifications.markDelivered(first.id, ["websocket"]), false, "a second mark changes nothing");
    assert.deepEqual(
      (await bus.notifications.pending()).map((n) => n.id),
      [second.id],
    );
    assert.equal(await bus.notifications.markDelivered(second.id, []), true);
    assert.equal(await bus.notifications.markDelivered(first.id, []), false, "the pointer never moves back");
    assert.equal(await bus.notifications.pendingCount(), 0);
    const notified = (await bus.journal(10)).filter((e) => e.kind === "notified");
    assert.deepEqual(
      notified.map((e) => [e.id, e.channel]),
      [
        [first.id, "telegram,websocket"],
        [second.id, ""],
      ],
    );
  });

  test("empty, blank and oversized texts are refused; hostile text is kept as is", async () => {
    await assert.rejects(bus.notifications.notify({ text: "", from: "cli" }), /empty/);
    await assert.rejects(bus.notifications.notify({ text: " \n\t", from: "cli" }), /empty/);
    await assert.rejects(bus.notifications.notify({ text: "x".repeat(NOTIFICATION_TEXT_MAX + 1), from: "cli" }), /over/);
    const hostile = "\u001b[2J'; FLUSHALL; -- \"}{ 🎉";
    await bus.notifications.notify({ text: hostile, from: "cli" });
    assert.equal((await bus.notifications.pending())[0]?.text, hostile);
  });
});

describe("schedule times", () => {
  const now = Date.parse("2026-06-01T12:00:00Z");

  test("--in, --at and --cron resolve to the first due time", () => {
    assert.deepEqual(resolveScheduleTime({ in: "20m" }, now), { kind: "at", due: now + 1_200_000, at: now + 1_200_000 });
    assert.equal(resolveScheduleTime({ at: "2026-06-01T14:00:00.5+02:00" }, now).due, now + 500);
    assert.equal(resolveScheduleTime({ at: "2026-06-01T12:00:01Z" }, now).due, now + 1_000);
    assert.deepEqual(resolveScheduleTime({ cron: " 0 9 * * * " }, now), {
      kind: "cron",
      due: nextDueAfter({ kind: "cron", cron: "0 9 * * *" } as never, now)!,
      cron: "0 9 * * *",
    });
    assert.equal(resolveScheduleTime({ cron: "0 9 * * *", timezone: "UTC" }, now).due, Date.parse("2026-06-02T09:00:00Z"));
  });

  test("bad or conflicting input gets one clear sentence", () => {
    const cases: Array<[Parameters<typeof resolveScheduleTime>[0], RegExp]> = [
      [{}, /give one of --at, --in or --cron/],
      [{ at: "2026-07-01T00:00:00Z", in: "5m" }, /only one of .*--at and --in/],
      [{ in: "5m", cron: "* * * * *" }, /only one of/],
      [{ at: "2026-05-01T00:00:00Z" }, /in the past/],
      [{ at: "2026-06-01T12:00:00Z" }, /in the past/],
      [{ at: "2026-07-01T10:00:00" }, /ISO 8601 with an offset/],
      [{ at: "tomorrow" }, /invalid --at/],
      [{ at: "" }, /invalid --at/],
      [{ at: "2026-13-45T99:00:00Z" }, /invalid --at/],
      [{ in: "0s" }, /more than zero/],
      [{ in: "-5m" }, /invalid --in/],
      [{ in: "soon" }, /invalid --in/],
      [{ in: "" }, /invalid --in/],
      [{ cron: "not a cron" }, /invalid cron pattern/],
      [{ cron: "61 * * * *" }, /invalid cron pattern/],
      [{ cron: "" }, /invalid cron pattern/],
      [{ cron: "0 0 9 * * * 2027" }, /invalid cron pattern/],
      [{ cron: "0 0 30 2 *" }, /never fires/],
      [{ cron: "0 9 * * *", timezone: "Mars/Olympus" }, /./],
      [{ in: "5m", timezone: "UTC" }, /only applies to --cron/],
    ];
    for (const [spec, message] of cases) assert.throws(() => resolveScheduleTime(spec, now), message, JSON.stringify(spec));
  });

  test("ids and texts", () => {
    assert.equal(checkScheduleId("daily-report_1.v2"), "daily-report_1.v2");
    for (const bad of ["", "a b", "x".repeat(65), "../etc", "a:b", "é"]) assert.throws(() => checkScheduleId(bad), /invalid schedule id/, bad);
    assert.throws(() => checkScheduleText("  "), /empty/);
    assert.throws(() => checkScheduleText("x".repeat(4_001)), /over/);
  });
});
