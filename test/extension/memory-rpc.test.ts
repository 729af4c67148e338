/**
 * The extension inside the REAL pi (rpc mode) publishes its pi's memory in the session record
 * (`memory` of `pi-gateway sessions --json`): the pi process's own, read anew on every presence
 * tick. Nothing outside a pi can read its heap; the restart soak judges a pi by this record.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { afterEach, test } from "node:test";
import { startExtensionPi } from "../helpers/extension-pi.js";
import { usePiSuite } from "../helpers/pi-suite.js";
import { waitFor } from "../helpers/wait.js";
import { rssMiB } from "../chaos/harness.js";

const cleanups: Array<() => Promise<void> | void> = [];
const suite = usePiSuite({ flushEach: true, piEnv: false });
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

const MiB = 1024 * 1024;

test("an extension pi publishes its own process's memory with every presence tick", async () => {
  const pi = await startExtensionPi(suite, cleanups, { GATEWAY_ROLE: "satellite", GATEWAY_ID: "mem-pi" }, "1500ms");
  const pid = (pi.client as unknown as { process: ChildProcess | null }).process?.pid;
  const record = async () => (await suite.bus.sessions()).find((s) => s.id === "mem-pi");
  await waitFor(async () => (await record())?.memory !== undefined, "the pi's record has its memory", 20_000, 100);
  const first = (await record())!;
  assert.equal(first.pid, pid, "the record is the pi's");
  const rss = rssMiB(pid) * MiB;
  assert.ok(first.memory!.rss > rss / 2 && first.memory!.rss < rss * 2, `the pi's RSS, not this process's: ${first.memory!.rss} vs /proc ${rss}`);
  assert.ok(first.memory!.heapUsed > 10 * MiB, "a pi's heap");
  await waitFor(async () => ((await record())?.memory?.at ?? 0) > first.memory!.at, "the next presence tick read it anew", 5_000, 100);
});
