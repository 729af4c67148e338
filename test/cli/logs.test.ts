/**
 * Logs: pretty for a person at a terminal, JSON for services and files; GATEWAY_LOG_FORMAT
 * forces either. The choice is a pure function (a pseudo-terminal is hard to get in a test); one
 * end-to-end run checks that a daemon whose stderr is not a terminal writes JSON lines.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import { chooseLogFormat, createLogger } from "../../src/config/logging.js";
import { runCli } from "../helpers/cli.js";
import { startDaemon } from "../helpers/daemon.js";
import { startFakeLlm, type FakeLlm } from "../helpers/fake-llm.js";
import { createPiEnv, type PiEnv } from "../helpers/pi-env.js";
import { startRedis, type RedisServer } from "../helpers/redis-server.js";

describe("chooseLogFormat(isTTY, env)", () => {
  test("unset or empty: pretty on a terminal, JSON otherwise", () => {
    assert.deepEqual(chooseLogFormat(true, {}), { format: "pretty" });
    assert.deepEqual(chooseLogFormat(false, {}), { format: "json" });
    assert.deepEqual(chooseLogFormat(true, { GATEWAY_LOG_FORMAT: "" }), { format: "pretty" });
    assert.deepEqual(chooseLogFormat(false, { GATEWAY_LOG_FORMAT: " " }), { format: "json" });
  });

  test("json and pretty force the format, whatever the output (case and spaces do not matter)", () => {
    assert.deepEqual(chooseLogFormat(true, { GATEWAY_LOG_FORMAT: "json" }), { format: "json" });
    assert.deepEqual(chooseLogFormat(false, { GATEWAY_LOG_FORMAT: "pretty" }), { format: "pretty" });
    assert.deepEqual(chooseLogFormat(true, { GATEWAY_LOG_FORMAT: " JSON " }), { format: "json" });
  });

  test("anything else: the default for the output, and a problem naming the variable and the choices", () => {
    for (const [isTTY, format] of [
      [true, "pretty"],
      [false, "json"],
    ] as const) {
      const choice = chooseLogFormat(isTTY, { GATEWAY_LOG_FORMAT: "xml" });
      assert.equal(choice.format, format);
      assert.equal(choice.problem, 'GATEWAY_LOG_FORMAT="xml" is not json or pretty (expected one of json, pretty)');
    }
  });
});

describe("createLogger", () => {
  const saved = process.env.GATEWAY_LOG_FORMAT;
  afterEach(() => {
    if (saved === undefined) delete process.env.GATEWAY_LOG_FORMAT;
    else process.env.GATEWAY_LOG_FORMAT = saved;
  });
  const logFile = () => join(mkdtempSync(join(tmpdir(), "pigw-log-")), "gateway.log");

  test("a file gets JSON lines; GATEWAY_LOG_FORMAT=pretty makes them pretty", () => {
    delete process.env.GATEWAY_LOG_FORMAT;
    const jsonFile = logFile();
    createLogger("t", { destination: jsonFile }).info({ n: 1 }, "hello");
    const line = JSON.parse(readFileSync(jsonFile, "utf8").trim()) as { msg: string; n: number; name: string };
    assert.deepEqual([line.msg, line.n, line.name], ["hello", 1, "t"]);

    process.env.GATEWAY_LOG_FORMAT = "pretty";
    const prettyFile = logFile();
    createLogger("t", { destination: prettyFile }).info({ n: 1 }, "hello");
    const text = readFileSync(prettyFile, "utf8");
    assert.match(text, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(t\): hello\n {4}n: 1\n$/);
  });

  test("an invalid GATEWAY_LOG_FORMAT is a warning in the log, never a crash (the extension runs inside pi)", () => {
    process.env.GATEWAY_LOG_FORMAT = "xml";
    const file = logFile();
    createLogger("t", { destination: file }).info({}, "still logging");
    const lines = readFileSync(file, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { level: number; msg: string });
    assert.equal(lines[0]!.level, 40);
    assert.match(lines[0]!.msg, /^GATEWAY_LOG_FORMAT="xml" is not json or pretty .*; writing json$/);
    assert.equal(lines[1]!.msg, "still logging");
  });
});

describe("the daemon's logs", () => {
  let redis: RedisServer;
  let llm: FakeLlm;
  let piEnv: PiEnv;
  const token = "logs-test-token-0123456789abcdef";
  before(async () => {
    redis = await startRedis();
    llm = await startFakeLlm();
    piEnv = createPiEnv({ llmUrl: llm.url });
  });
  after(async () => {
    await llm.close();
    await redis.stop();
    piEnv.cleanup();
  });

  test("an invalid GATEWAY_LOG_FORMAT stops the daemon before it starts: usage error, exit 2", async () => {
    const result = await runCli(["daemon", "--port", "0"], { env: { ...piEnv.env, REDIS_URL: redis.url, GATEWAY_TOKEN: token, GATEWAY_LOG_FORMAT: "xml" } });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^pi-gateway: GATEWAY_LOG_FORMAT="xml" is not json or pretty/);
  });

  test("stderr not a terminal: JSON lines; GATEWAY_LOG_FORMAT=pretty: readable lines", async () => {
    const env = { ...piEnv.env, REDIS_URL: redis.url, GATEWAY_TOKEN: token, GATEWAY_LOG_FORMAT: "" };
    const plain = await startDaemon(env, ["--cwd", piEnv.cwd]);
    await plain.stop();
    const listening = plain
      .output()
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { msg: string; name: string; level: number })
      .find((l) => l.msg === "listening");
    assert.ok(listening, `a JSON "listening" line in: ${plain.output()}`);
    assert.equal(listening.name, "pi-gateway-daemon");

    const pretty = await startDaemon({ ...env, GATEWAY_LOG_FORMAT: "pretty" }, ["--cwd", piEnv.cwd]);
    await pretty.stop();
    assert.match(pretty.output(), /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(pi-gateway-daemon\): listening$/m);
    assert.doesNotMatch(pretty.output(), /^\{"level"/m);
  });
});
