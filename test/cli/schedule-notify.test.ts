/**
 * `pi-gateway schedule add|list|rm` and `pi-gateway notify`, run as the built binary: what they
 * store, what they print, and one clear line with exit 2 for bad input.
 */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { GatewayBus } from "../../src/bus/bus.js";
import { runCli } from "../helpers/cli.js";
import { useRedisBus } from "../helpers/redis-bus.js";

let bus: GatewayBus;
let env: Record<string, string>;
useRedisBus({ flushEach: true }, (r, b) => {
  bus = b;
  env = { REDIS_URL: r.url, GATEWAY_SESSION_ID: "", GATEWAY_ENV_FILE: "none", HOME: mkdtempSync(join(tmpdir(), "pigw-sched-")) };
});

const registerCentral = () => bus.register({ id: "gateway", role: "central", durable: true, instance: "x", kind: "daemon" });

describe("pi-gateway schedule", () => {
  test("add --in / --at / --cron, list (text and --json), rm", async () => {
    await registerCentral();
    const inTwenty = await runCli(["schedule", "add", "--in", "20m", "--id", "tea", "make tea"], { env });
    assert.equal(inTwenty.code, 0, inTwenty.stderr);
    assert.match(inTwenty.stdout, /^scheduled tea for gateway: once at \d{4}-\d\d-\d\dT.*Z \(in 20m\)\n$/);
    const at = new Date(Date.now() + 3_600_000).toISOString();
    assert.equal((await runCli(["schedule", "add", "--at", at, "--id", "call", "call back"], { env })).code, 0);
    const cron = await runCli(["schedule", "add", "--cron", "0 9 * * *", "--tz", "UTC", "--json", "daily report"], { env });
    assert.equal(cron.code, 0, cron.stderr);
    const added = JSON.parse(cron.stdout) as { id: string; kind: string; cron: string; nextDueIso: string; replaced: boolean };
    assert.equal(added.kind, "cron");
    assert.match(added.nextDueIso, /T09:00:00\.000Z$/, "the next run is shown");
    assert.equal(added.replaced, false);

    const list = await runCli(["schedule", "list"], { env });
    assert.equal(list.code, 0);
    const lines = list.stdout.trim().split("\n");
    assert.match(lines[0]!, /^ID\s+SESSION\s+NEXT\s+REPEAT\s+TEXT$/);
    // Sorted by when they are next due: the 09:00 UTC cron can come before "tea" (due in 20 min) near 09:00.
    assert.equal(lines.length, 4);
    assert.ok(
      lines.slice(1).some((line) => /^tea\s+gateway\s+\S+\s+once\s+make tea$/.test(line)),
      list.stdout,
    );
    const json = JSON.parse((await runCli(["schedule", "list", "--json"], { env })).stdout) as { schedules: Array<{ id: string }> };
    assert.equal(json.schedules.length, 3);

    const replaced = await runCli(["schedule", "add", "--in", "1h", "--id", "tea", "green tea"], { env });
    assert.match(replaced.stdout, /^replaced tea/);
    assert.equal((await runCli(["schedule", "rm", "tea"], { env })).stdout, "removed schedule tea\n");
    const gone = await runCli(["schedule", "rm", "tea"], { env });
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /^pi-gateway: no schedule "tea"/);
    assert.equal((await bus.schedules.list()).length, 2);
  });

  test("bad input: one line, exit 2, nothing stored", async () => {
    await registerCentral();
    const past = new Date(Date.now() - 60_000).toISOString();
    const cases: Array<[string[], RegExp]> = [
      [["schedule", "add", "text"], /give one of --at, --in or --cron/],
      [["schedule", "add", "--at", "2099-01-01T00:00:00Z", "--in", "5m", "text"], /only one of .*\(got --at and --in\)/],
      [["schedule", "add", "--at", past, "text"], /in the past/],
      [["schedule", "add", "--at", "2099-01-01 10:00", "text"], /ISO 8601/],
      [["schedule", "add", "--in", "soon", "text"], /invalid --in/],
      [["schedule", "add", "--in", "0m", "text"], /more than zero/],
      [["schedule", "add", "--cron", "* * *", "text"], /invalid cron pattern/],
      [["schedule", "add", "--cron", "0 0 30 2 *", "text"], /never fires/],
      [["schedule", "add", "--in", "5m", ""], /text is empty/],
      [["schedule", "add", "--in", "5m", "--id", "../x", "text"], /invalid schedule id/],
      [["schedule", "add", "--in", "5m", "--session", "nobody", "text"], /unknown session "nobody".*--force/],
      [["schedule", "add", "--in", "5m", "--session", "a b\u001b[31m", "text"], /--session/],
      [["schedule", "add", "--in", "5m"], /missing required argument/],
      [["notify", ""], /text is empty/],
    ];
    for (const [args, message] of cases) {
      const result = await runCli(args, { env });
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, message, args.join(" "));
      assert.equal(result.stderr.trim().split("\n").length, 1, `one line: ${result.stderr}`);
      assert.ok(!result.stderr.includes("\u001b"), "no escape sequence reaches the terminal");
    }
    assert.equal((await bus.schedules.list()).length, 0);
    const forced = await runCli(["schedule", "add", "--in", "5m", "--session", "later-sat", "--force", "text"], { env });
    assert.equal(forced.code, 0, forced.stderr);
  });
});

describe("pi-gateway notify", () => {
  test("kept with no daemon: said on stderr, counted by status, shown by tail", async () => {
    const result = await runCli(["notify", "backup finished"], { env });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^notification \d+-\d+ kept for the owner\n$/);
    assert.match(result.stderr, /no daemon owns the central session now/);
    const status = await runCli(["status"], { env });
    assert.match(status.stdout, /^notify\s+1 pending/m);
    const json = JSON.parse((await runCli(["status", "--json"], { env })).stdout) as { pendingNotifications: number };
    assert.equal(json.pendingNotifications, 1);
    const tail = await runCli(["tail", "--kind", "notify"], { env });
    assert.match(tail.stdout, /notify\s+cli: backup finished/);
    assert.equal((await runCli(["notify", "--from", "x\u001b]0;owned\u0007", "disk \u001b[2J full"], { env })).code, 0);
    const hostile = await runCli(["tail", "--kind", "notify"], { env });
    assert.ok(!hostile.stdout.includes("\u001b"), `no escape sequence reaches the terminal: ${JSON.stringify(hostile.stdout)}`);
    assert.match(hostile.stdout, /notify\s+x\\x1b\]0;owned\\x07: disk \\x1b\[2J full$/m);
  });
});
