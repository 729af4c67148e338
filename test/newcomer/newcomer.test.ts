/**
 * The whole gateway as a new user meets it, following the README step by step: a fresh HOME, no
 * REDIS_URL, nothing answering at the default Redis address, only `redis-server` installed and pi
 * logged in (here: a models.json whose provider is our fake LLM). Then the things a new user does
 * next: the seed's two verification lines, reading the reply, running a line twice, starting a
 * second daemon by mistake, and running commands with Redis gone.
 *
 * Every step runs the built `pi-gateway` binary as a child process, like the README's commands.
 * The probed default address (GATEWAY_DEFAULT_REDIS_URL) is a free port, so the daemon's embedded
 * redis-server is what answers: this test never touches a real Redis on 6379.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { HistoryItem } from "../../src/daemon/history.js";
import { runCli } from "../helpers/cli.js";
import { startDaemon, type DaemonProcess } from "../helpers/daemon.js";
import { startFakeLlm, type FakeLlm } from "../helpers/fake-llm.js";
import { createPiEnv, type PiEnv } from "../helpers/pi-env.js";
import { freePort } from "../helpers/redis-server.js";
import { waitFor } from "../helpers/wait.js";

let llm: FakeLlm;
let piEnv: PiEnv;
let env: Record<string, string>;
const running: DaemonProcess[] = [];

before(async () => {
  llm = await startFakeLlm();
  llm.setResponder((r) => ({ text: r.lastUserText.includes("gateway event") ? "Got the test event.\nNothing else to do." : "hello" }));
  piEnv = createPiEnv({ llmUrl: llm.url });
  env = {
    ...piEnv.env,
    // A new user's shell: none of the gateway's settings (empty counts as unset).
    REDIS_URL: "",
    GATEWAY_TOKEN: "",
    GATEWAY_TOKEN_FILE: "",
    GATEWAY_ID: "",
    GATEWAY_ROLE: "",
    GATEWAY_HOST: "",
    XDG_STATE_HOME: "",
    GATEWAY_ENV_FILE: "",
    GATEWAY_LOG_LEVEL: "warn",
    GATEWAY_DEFAULT_REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
  };
});
after(async () => {
  for (const d of running.splice(0)) await d.stop();
  await llm.close();
  piEnv.cleanup();
});

async function daemon(): Promise<DaemonProcess> {
  const d = await startDaemon(env, ["--cwd", piEnv.cwd], 30_000);
  running.push(d);
  return d;
}

const cli = (args: string[], timeoutMs?: number) => runCli(args, { env, timeoutMs });

/** The embedded Redis's port, as `pi-gateway status --json` reports the URL it found by itself. */
async function redisPort(): Promise<number> {
  const status = await cli(["status", "--json"]);
  assert.equal(status.code, 0, status.stderr);
  const url = (JSON.parse(status.stdout) as { redis: { url: string } }).redis.url;
  return Number(new URL(url).port);
}

function token(): string {
  const file = join(piEnv.home, ".config", "pi-gateway", "token");
  assert.ok(existsSync(file), "the daemon wrote its token file on first start");
  return readFileSync(file, "utf8").trim();
}

async function history(url: string): Promise<HistoryItem[]> {
  const response = await fetch(`${url}/api/history`, { headers: { authorization: `Bearer ${token()}` } });
  assert.equal(response.status, 200);
  return ((await response.json()) as { items: HistoryItem[] }).items;
}

/** The seed's verification lines, exactly (plus -p: the embedded Redis is not on 6379). */
function seedLines(port: number, id: string): void {
  const event = JSON.stringify({ id, type: "test", source: "manual", payload: {}, ts: 0 });
  execFileSync("redis-cli", ["-p", String(port), "LPUSH", "agent:events:main", event]);
  execFileSync("redis-cli", ["-p", String(port), "PUBLISH", "agent:notify:main", "test"]);
}

describe("a new user, following the README", () => {
  let first: DaemonProcess;
  let port: number;

  test("npx pi-gateway daemon with only redis-server installed: it starts its own Redis and says so", async () => {
    first = await daemon();
    assert.match(first.output(), /started an embedded redis-server on redis:\/\/127\.0\.0\.1:\d+/);
    assert.match(first.url, /^http:\/\/127\.0\.0\.1:\d+$/, "an empty GATEWAY_HOST is loopback, as the security audit says");
    port = await redisPort();
    assert.notEqual(port, 6379);
    const ready = await fetch(`${first.url}/readyz`);
    assert.equal(ready.status, 200, "the daemon is ready: a model is configured");
  });

  test("the seed's verification lines: the reply is in the history API and in pi-gateway tail", async () => {
    seedLines(port, "newcomer-1");
    await waitFor(
      async () => (await history(first.url)).some((i) => i.kind === "reply" && i.text.includes("Got the test event")),
      "reply in /api/history",
      30_000,
    );
    const items = await history(first.url);
    const prompt = items.find((i) => i.kind === "prompt" && i.text.includes("newcomer-1"));
    assert.ok(prompt, "the event's prompt is in the history");
    const tail = await cli(["tail", "-n", "50"]);
    assert.equal(tail.code, 0, tail.stderr);
    assert.match(tail.stdout, /pushed|delivered/);
    assert.match(tail.stdout, /replied .*Got the test event\./, "tail shows what the agent answered");
  });

  test("the same lines run again: not delivered twice, and said so in tail and status", async () => {
    const turns = llm.chatRequests().length;
    seedLines(port, "newcomer-1");
    await waitFor(async () => /duplicate +newcomer-1/.test((await cli(["tail", "-n", "50"])).stdout), "duplicate journaled", 15_000);
    const status = await cli(["status", "--json"]);
    assert.ok((JSON.parse(status.stdout) as { duplicates: number }).duplicates >= 1, status.stdout);
    assert.equal(llm.chatRequests().length, turns, "no second turn for the repeated event");
  });

  test("a second daemon by mistake: refused within 5 s, one line naming the holder and the ways out", async () => {
    const started = Date.now();
    const second = await runCli(["daemon", "--port", "0", "--cwd", piEnv.cwd], { env, timeoutMs: 15_000 });
    const elapsed = Date.now() - started;
    assert.notEqual(second.code, 0);
    assert.ok(elapsed < 5_000, `refused after ${elapsed} ms`);
    const lines = second.stderr.trim().split("\n");
    assert.equal(lines.length, 1, second.stderr);
    assert.match(lines[0]!, /held by daemon pid \d+ .*GATEWAY_ID.*--takeover/);
    assert.equal((await fetch(`${first.url}/readyz`)).status, 200, "the first daemon is untouched");
  });

  test("stop it and start it again: the conversation is still there", async () => {
    assert.equal(await first.stop(), 0);
    // What the first run wrote is private; what someone loosened since is made private again on start.
    const transcripts = sessionFiles(join(piEnv.agentDir, "sessions"));
    assert.ok(transcripts.length > 0, "the daemon's transcript is on disk");
    for (const path of transcripts) assert.equal(statSync(path).mode & 0o077, 0, `${path} was written private (umask 077)`);
    const tokenFile = join(piEnv.home, ".config", "pi-gateway", "token");
    chmodSync(tokenFile, 0o644);
    const transcript = transcripts.find((path) => path.endsWith(".jsonl"))!;
    chmodSync(transcript, 0o644);
    chmodSync(dirname(transcript), 0o755);
    first = await daemon();
    assert.match(first.output(), /the token file .*token had mode 0644 \(others could read it\); it is now 0600/);
    for (const path of [tokenFile, transcript, dirname(transcript)]) assert.equal(statSync(path).mode & 0o077, 0, `${path} was made private on start`);
    const items = await history(first.url);
    assert.ok(
      items.some((i) => i.kind === "reply" && i.text.includes("Got the test event")),
      "history survives the restart",
    );
  });

  test("Redis gone (daemon stopped, its Redis with it): commands fail fast with the hint", async () => {
    assert.equal(await first.stop(), 0);
    let started = Date.now();
    const status = await cli(["status"]);
    assert.equal(status.code, 3, "Redis unreachable has its own exit status");
    assert.ok(Date.now() - started < 2_500, `status took ${Date.now() - started} ms`);
    assert.equal(status.stderr.trim().split("\n").length, 1, status.stderr);
    assert.match(status.stderr, /refused|did not answer/);
    assert.match(status.stderr, /redis-server|REDIS_URL/);

    started = Date.now();
    const push = await cli(["push", "test.after", "--source", "newcomer", "--retry", "2s"]);
    assert.equal(push.code, 3);
    assert.match(push.stderr, /retrying for 2s/, "push says at once that it is retrying");
    assert.match(push.stderr, /redis-server|REDIS_URL/, "and ends with the hint");
    assert.ok(Date.now() - started < 6_000);
  });
});

/** Every path under `dir` (directories and files), depth first. */
function sessionFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).map((name) => join(dir, name));
}
