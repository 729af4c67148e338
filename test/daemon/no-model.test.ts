/**
 * A daemon whose pi has no usable model (no models.json provider, no API key, no login) says so:
 * one line at start, /readyz not ready with the reason, /api/status and the web page carry it, and
 * a prompt gets one clear error. The usual setup (fake LLM in models.json) stays ready.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { chromium } from "playwright-core";
import { WebSocket } from "ws";
import { formatStatus } from "../../src/channels/telegram/channel.js";
import type { ServerMessage } from "../../src/daemon/ws-protocol.js";
import { runCli } from "../helpers/cli.js";
import { usePiSuite } from "../helpers/pi-suite.js";
import { requireTool, skipWithout } from "../helpers/tools.js";
import { waitFor } from "../helpers/wait.js";

const TOKEN = "no-model-test-token-0123456789abcdef";
/** Credentials pi would find in the environment: blanked, whatever the developer's shell has. */
const NO_KEYS = Object.fromEntries(
  [
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_OAUTH_TOKEN",
    "OPENAI_API_KEY",
    "GEMINI_API_KEY",
    "GROQ_API_KEY",
    "XAI_API_KEY",
    "OPENROUTER_API_KEY",
    "MISTRAL_API_KEY",
    "CEREBRAS_API_KEY",
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_BEARER_TOKEN_BEDROCK",
    "COPILOT_GITHUB_TOKEN",
    "GH_TOKEN",
    "GITHUB_TOKEN",
  ].map((k) => [k, ""]),
);

const suite = usePiSuite({
  flushEach: true,
  llmReady: (llm) => llm.setResponder(() => ({ text: "the fake model answers" })),
  token: TOKEN,
  logLevel: "error",
  env: () => NO_KEYS,
});

/** pi's agent dir as a fresh install has it: no models.json, no settings, no auth.json. */
function emptyAgentDir(): void {
  rmSync(join(suite.piEnv.agentDir, "models.json"), { force: true });
  rmSync(join(suite.piEnv.agentDir, "settings.json"), { force: true });
}

const { daemon } = suite;

async function get(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Sends one prompt over the WebSocket; every message about it until its end or error. */
async function prompt(url: string, text: string): Promise<ServerMessage[]> {
  const socket = new WebSocket(`${url.replace(/^http/, "ws")}/ws`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const messages: ServerMessage[] = [];
  socket.on("message", (data) => messages.push(JSON.parse(data.toString()) as ServerMessage));
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  socket.send(JSON.stringify({ type: "prompt", id: crypto.randomUUID(), text }));
  try {
    await waitFor(() => messages.some((m) => m.type === "end" || m.type === "error"), `an answer to ${text}`, 20_000);
    await new Promise((resolve) => setTimeout(resolve, 300)); // a second error would arrive now
  } finally {
    socket.close();
  }
  return messages;
}

const fixFor = (agentDir: string) =>
  `run \`pi\` then \`/login\`, or set an API key such as ANTHROPIC_API_KEY / OPENAI_API_KEY, or configure ${join(agentDir, "models.json")}`;

describe("a daemon without a usable model", () => {
  test("says so at start, is not ready, reports it in /api/status, and answers a prompt with one clear error", async () => {
    emptyAgentDir();
    const d = await daemon();
    const expected = `no model available: ${fixFor(suite.piEnv.agentDir)}`;
    assert.ok(d.output().includes(`pi-gateway daemon: ${expected}\n`), d.output());

    const ready = await get(`${d.url}/readyz`);
    assert.equal(ready.status, 503);
    assert.deepEqual(ready.body, { ready: false, error: expected, code: "NOT_READY" });
    const status = await get(`${d.url}/api/status`);
    assert.equal((status.body.daemon as { modelProblem?: string }).modelProblem, expected);

    const messages = await prompt(d.url, "hello?");
    const errors = messages.filter((m) => m.type === "error");
    assert.equal(errors.length, 1, JSON.stringify(messages));
    const text = errors[0]!.type === "error" ? errors[0]!.message : "";
    assert.ok(text.startsWith(`turn failed: ${expected}`), text);
    assert.equal(text.split("/login").length - 1, 1, "the fix is said once, not pi's own /login hint on top");
    assert.doesNotMatch(text, /No API key found|No model selected/);
    assert.equal(suite.llm.requests.length, 0);
  });

  test("a default model without its API key is named; the key in the environment makes it ready", async () => {
    emptyAgentDir();
    writeFileSync(join(suite.piEnv.agentDir, "settings.json"), JSON.stringify({ defaultProvider: "anthropic", defaultModel: "claude-sonnet-4-5" }));
    const without = await daemon();
    const ready = await get(`${without.url}/readyz`);
    assert.equal(ready.status, 503);
    assert.match(String(ready.body.error), /^no model available \(anthropic\/claude-sonnet-4-5 has no API key or login\): run `pi` then `\/login`/);
    await without.kill();

    const withKey = await daemon({ ANTHROPIC_API_KEY: "sk-ant-test-never-sent" });
    assert.deepEqual(await get(`${withKey.url}/readyz`), { status: 200, body: { ready: true } });
    assert.doesNotMatch(withKey.output(), /no model available/);
  });

  test("fixed while it runs (models.json written): the next prompt is answered and it turns ready", async () => {
    const models = join(suite.piEnv.agentDir, "models.json");
    const settings = join(suite.piEnv.agentDir, "settings.json");
    const saved = { models: readFileSync(models, "utf8"), settings: readFileSync(settings, "utf8") };
    emptyAgentDir();
    const d = await daemon();
    assert.equal((await get(`${d.url}/readyz`)).status, 503);
    writeFileSync(models, saved.models);
    writeFileSync(settings, saved.settings);
    const messages = await prompt(d.url, "now?");
    const end = messages.find((m) => m.type === "end");
    assert.ok(end && end.type === "end" && end.text === "the fake model answers", JSON.stringify(messages));
    assert.deepEqual(await get(`${d.url}/readyz`), { status: 200, body: { ready: true } });
  });

  test("an event that arrives without a model waits for one: never dead-lettered, delivered once the model is there", async () => {
    const models = join(suite.piEnv.agentDir, "models.json");
    const settings = join(suite.piEnv.agentDir, "settings.json");
    const saved = { models: readFileSync(models, "utf8"), settings: readFileSync(settings, "utf8") };
    emptyAgentDir();
    const d = await daemon({ GATEWAY_TURN_RETRY_BACKOFF: "300ms" });
    const redisCli = (...args: string[]) => execFileSync("redis-cli", ["-p", String(suite.redis.port), ...args]).toString();
    redisCli("LPUSH", "agent:events:main", JSON.stringify({ id: "early-1", type: "job.done", source: "cron", payload: {}, ts: 0 }));
    redisCli("PUBLISH", "agent:notify:main", "x");
    const tail = () => runCli(["--redis-url", suite.redis.url, "tail", "-n", "50"]).then((r) => r.stdout);
    await waitFor(async () => /waiting for a model/.test(await tail()), "the wait is journaled", 15_000);
    assert.equal(Number(redisCli("LLEN", "agent:gateway:deadletter").trim()), 0, "not dead-lettered");
    writeFileSync(models, saved.models);
    writeFileSync(settings, saved.settings);
    await waitFor(() => suite.llm.chatRequests().some((r) => r.lastUserText.includes("early-1")), "the event reached the model", 20_000);
    assert.equal((await get(`${d.url}/readyz`)).status, 200);
  });

  test("the web page shows a banner with the fix", { skip: skipWithout("chromium") }, async () => {
    emptyAgentDir();
    const d = await daemon();
    const browser = await chromium.launch({
      executablePath: requireTool("chromium"),
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    });
    try {
      const page = await browser.newPage();
      await page.goto(`${d.url}/#token=${TOKEN}`);
      await page.waitForSelector("#model-banner:not([hidden])", { timeout: 10_000 });
      const banner = (await page.textContent("#model-banner")) ?? "";
      assert.equal(banner, `⚠️ The agent cannot answer: no model available: ${fixFor(suite.piEnv.agentDir)}`);
    } finally {
      await browser.close();
    }
  });
});

test("Telegram's /status leads with the problem", () => {
  const status = { state: "idle" as const, queue: { human: 0, event: 0, heartbeat: 0 }, processed: 0, lastHeartbeat: null };
  assert.equal(formatStatus({ ...status, modelProblem: "no model available: fix it" }).split("\n")[0], "⚠️ no model available: fix it");
  assert.doesNotMatch(formatStatus(status), /⚠️/);
});

describe("a daemon with the fake LLM configured", () => {
  test("is ready and says nothing about models", async () => {
    const d = await daemon();
    assert.deepEqual(await get(`${d.url}/readyz`), { status: 200, body: { ready: true } });
    assert.doesNotMatch(d.output(), /no model available/);
    const status = await get(`${d.url}/api/status`);
    assert.equal((status.body.daemon as { modelProblem?: string }).modelProblem, undefined);
  });

  test("the web page shows no banner", { skip: skipWithout("chromium") }, async () => {
    const d = await daemon();
    const browser = await chromium.launch({
      executablePath: requireTool("chromium"),
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    });
    try {
      const page = await browser.newPage();
      await page.goto(`${d.url}/#token=${TOKEN}`);
      await page.waitForSelector('#daemon-state[data-state="idle"]', { timeout: 10_000 });
      assert.equal(await page.isHidden("#model-banner"), true);
    } finally {
      await browser.close();
    }
  });
});
