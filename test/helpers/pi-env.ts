// Isolated environment + launchers for running the REAL pi coding agent against the fake LLM.
//
// - createPiEnv(): temp HOME, temp agent dir (PI_CODING_AGENT_DIR) with models.json (provider "fake",
//   api openai-completions, baseUrl = fake LLM) and settings.json (default provider/model = fake,
//   retries off, extensions list), temp project cwd, and a child-process env with PI_OFFLINE=1.
// - startRpcPi(): spawns `node <pi>/dist/cli.js --mode rpc` through pi's own RpcClient.
// - createSdkSession(): in-process AgentSession via createAgentSession(), extensions bound.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type AgentSession,
  type AgentSessionEvent,
  createAgentSession,
  DefaultResourceLoader,
  type ExtensionError,
  type ExtensionFactory,
  type ExtensionUIContext,
  type LoadExtensionsResult,
  RpcClient,
  type SessionManager,
  SettingsManager,
} from "@mariozechner/pi-coding-agent";

export const FAKE_PROVIDER = "fake";
export const FAKE_MODEL = "fake-model";

export interface PiEnvOptions {
  /** Fake LLM base URL WITHOUT /v1 (FakeLlm.url); "/v1" is appended for the provider baseUrl. */
  llmUrl: string;
  /** Absolute paths of extension files/dirs; written to agentDir/settings.json "extensions" (used by RPC and SDK). */
  extensions?: string[];
  /** Extra env vars for the child process (override the defaults). */
  env?: Record<string, string>;
  /** Extra settings.json keys merged over the defaults. */
  settings?: Record<string, unknown>;
}

export interface PiEnv {
  /** Temp root containing home/, agent/, project/. */
  root: string;
  home: string;
  agentDir: string;
  /** Project working directory for pi (empty temp dir). */
  cwd: string;
  /** Full env for a child pi process (process.env + isolation overrides). */
  env: Record<string, string>;
  provider: string;
  model: string;
  cleanup(): void;
}

export function createPiEnv(opts: PiEnvOptions): PiEnv {
  const root = mkdtempSync(join(tmpdir(), "pi-gw-test-"));
  const home = join(root, "home");
  const agentDir = join(root, "agent");
  const cwd = join(root, "project");
  for (const d of [home, agentDir, cwd]) mkdirSync(d, { recursive: true });

  const models = {
    providers: {
      [FAKE_PROVIDER]: {
        baseUrl: `${opts.llmUrl.replace(/\/$/, "")}/v1`,
        api: "openai-completions",
        // Literal key (not an env var name): only sent to the fake server.
        apiKey: "sk-fake-test-key",
        compat: { supportsDeveloperRole: false, supportsReasoningEffort: false },
        models: [
          {
            id: FAKE_MODEL,
            name: "Fake Model",
            reasoning: false,
            input: ["text"],
            contextWindow: 128000,
            maxTokens: 4096,
            cost: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 },
          },
        ],
      },
    },
  };
  const settings = {
    defaultProvider: FAKE_PROVIDER,
    defaultModel: FAKE_MODEL,
    defaultThinkingLevel: "off",
    quietStartup: true,
    enableInstallTelemetry: false,
    // Fail fast instead of 2s/4s/8s backoff when a test breaks the fake server.
    retry: { enabled: false },
    compaction: { enabled: false },
    extensions: opts.extensions ?? [],
    ...opts.settings,
  };
  writeFileSync(join(agentDir, "models.json"), JSON.stringify(models, null, 2));
  writeFileSync(join(agentDir, "settings.json"), JSON.stringify(settings, null, 2));

  const inherited: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) inherited[k] = v;
  const env: Record<string, string> = {
    ...inherited,
    HOME: home,
    USERPROFILE: home,
    PI_CODING_AGENT_DIR: agentDir,
    // Empty = "unset" for pi (falsy); neutralizes an inherited value so sessions land in
    // agentDir/sessions/--<cwd>--/ exactly like the SDK default.
    PI_CODING_AGENT_SESSION_DIR: "",
    PI_OFFLINE: "1", // no version check, package update check, install telemetry, tool downloads
    PI_SKIP_VERSION_CHECK: "1",
    PI_TELEMETRY: "0",
    NO_COLOR: "1",
    ...opts.env,
  };

  return {
    root,
    home,
    agentDir,
    cwd,
    env,
    provider: FAKE_PROVIDER,
    model: FAKE_MODEL,
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

/** Absolute path of pi's CLI entry (dist/cli.js) in our node_modules. */
export function piCliPath(): string {
  const indexJs = fileURLToPath(import.meta.resolve("@mariozechner/pi-coding-agent"));
  return join(dirname(indexJs), "cli.js");
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Wait until `check()` returns a value (not undefined) or time out. */
async function pollFor<T>(check: () => T | undefined, timeoutMs: number, what: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what()}`);
    await sleep(10);
  }
}

// ---------------------------------------------------------------------------------------------
// RPC mode
// ---------------------------------------------------------------------------------------------

/** Fire-and-forget UI request emitted by extensions in RPC mode (ctx.ui.notify/setStatus/...). */
export interface RpcExtensionUiRequest {
  type: "extension_ui_request";
  id: string;
  method: string; // "notify" | "setStatus" | "setWidget" | "setTitle" | "select" | "confirm" | ...
  [key: string]: unknown;
}
/** Extension handler/action error (e.g. sendUserMessage while streaming without deliverAs). */
export interface RpcExtensionError {
  type: "extension_error";
  extensionPath: string;
  event: string;
  error: string;
}
/** Everything pi writes to stdout in RPC mode that is not a command response. */
export type RpcEvent = AgentSessionEvent | RpcExtensionUiRequest | RpcExtensionError;

export interface RpcPi {
  client: RpcClient;
  /** All events received so far, in order. */
  events: RpcEvent[];
  /** Send a prompt; resolves when pi accepted it (not when the run ends). */
  prompt(text: string): Promise<void>;
  /** Wait for the first event matching `predicate` at index >= `since` (default 0). */
  waitForEvent(predicate: (e: RpcEvent) => boolean, timeoutMs?: number, since?: number): Promise<RpcEvent>;
  /** Prompt and wait for the agent_end of that run; returns the events of the run. */
  promptAndWait(text: string, timeoutMs?: number): Promise<RpcEvent[]>;
  /** Texts of all finished assistant messages so far. */
  assistantTexts(): string[];
  stderr(): string;
  /** SIGTERM pi (session_shutdown fires), SIGKILL after 1s. Idempotent. */
  stop(): Promise<void>;
}

/** Concatenated text parts of an agent message (assistant/user/custom), "" otherwise. */
export function messageText(message: unknown): string {
  if (!message || typeof message !== "object") return "";
  const content = (message as { content?: unknown }).content;
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .filter((p): p is { type: "text"; text: string } => !!p && p.type === "text" && typeof p.text === "string")
    .map((p) => p.text)
    .join("");
}

function assistantTextsOf(events: readonly RpcEvent[]): string[] {
  return events
    .filter((e) => e.type === "message_end" && "message" in e && e.message.role === "assistant")
    .map((e) => messageText((e as { message: unknown }).message));
}

export async function startRpcPi(piEnv: PiEnv, extraArgs: string[] = []): Promise<RpcPi> {
  const client = new RpcClient({
    cliPath: piCliPath(),
    cwd: piEnv.cwd,
    env: piEnv.env,
    args: extraArgs,
  });
  const events: RpcEvent[] = [];
  // RpcClient forwards every non-response stdout line to onEvent; the declared type is too narrow.
  client.onEvent((e) => events.push(e as unknown as RpcEvent));
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await client.stop();
  };

  try {
    await client.start();
    // RPC mode reads stdin only after bindExtensions() (i.e. after session_start handlers ran),
    // so a get_state round-trip means "pi is ready".
    await client.getState();
  } catch (err) {
    await stop();
    throw err;
  }

  const waitForEvent: RpcPi["waitForEvent"] = (predicate, timeoutMs = 5000, since = 0) =>
    pollFor(
      () => events.slice(since).find(predicate),
      timeoutMs,
      () => `rpc event; got types: ${events.map((e) => e.type).join(",")}\nstderr: ${client.getStderr()}`,
    );

  return {
    client,
    events,
    prompt: (text) => client.prompt(text),
    waitForEvent,
    async promptAndWait(text, timeoutMs = 5000) {
      const since = events.length;
      await client.prompt(text);
      await waitForEvent((e) => e.type === "agent_end", timeoutMs, since);
      return events.slice(since);
    },
    assistantTexts: () => assistantTextsOf(events),
    stderr: () => client.getStderr(),
    stop,
  };
}

// ---------------------------------------------------------------------------------------------
// SDK (in-process)
// ---------------------------------------------------------------------------------------------

export interface SdkSessionOptions {
  /** Extra extensions: absolute file paths and/or inline factories (on top of settings.json ones). */
  extensions?: Array<string | ExtensionFactory>;
  /** Default: persisted SessionManager in agentDir/sessions (what createAgentSession picks). */
  sessionManager?: SessionManager;
  /** UI context for extensions; without one ctx.hasUI === false and ctx.ui.* are no-ops. */
  uiContext?: ExtensionUIContext;
}

export interface SdkSession {
  session: AgentSession;
  extensionsResult: LoadExtensionsResult;
  events: AgentSessionEvent[];
  /** Errors reported by extension handlers/actions (bindExtensions onError). */
  extensionErrors: ExtensionError[];
  waitForEvent(predicate: (e: AgentSessionEvent) => boolean, timeoutMs?: number, since?: number): Promise<AgentSessionEvent>;
  /** Emits session_shutdown (like pi does on quit), then session.dispose(). Idempotent. */
  dispose(): Promise<void>;
}

export async function createSdkSession(piEnv: PiEnv, opts: SdkSessionOptions = {}): Promise<SdkSession> {
  // In-process: process.env is NOT consulted for the agent dir when agentDir is passed explicitly,
  // but these globals are read by a few code paths (tool downloads, version checks) — keep them offline.
  process.env.PI_OFFLINE ??= "1";
  process.env.PI_SKIP_VERSION_CHECK ??= "1";

  const { cwd, agentDir } = piEnv;
  const settingsManager = SettingsManager.create(cwd, agentDir);
  const resourceLoader = new DefaultResourceLoader({
    cwd,
    agentDir,
    settingsManager,
    additionalExtensionPaths: (opts.extensions ?? []).filter((e): e is string => typeof e === "string"),
    extensionFactories: (opts.extensions ?? []).filter((e): e is ExtensionFactory => typeof e === "function"),
  });
  await resourceLoader.reload();

  const { session, extensionsResult } = await createAgentSession({
    cwd,
    agentDir, // => auth.json, models.json, sessions/ under agentDir
    settingsManager,
    resourceLoader,
    ...(opts.sessionManager ? { sessionManager: opts.sessionManager } : {}),
  });
  if (extensionsResult.errors.length) {
    session.dispose();
    throw new Error(`extension load errors: ${JSON.stringify(extensionsResult.errors)}`);
  }

  const events: AgentSessionEvent[] = [];
  const extensionErrors: ExtensionError[] = [];
  session.subscribe((e) => events.push(e));
  // Required: binds the runner and emits session_start (extensions are inert before this).
  await session.bindExtensions({
    onError: (err) => extensionErrors.push(err),
    ...(opts.uiContext ? { uiContext: opts.uiContext } : {}),
  });

  let disposed = false;
  return {
    session,
    extensionsResult,
    events,
    extensionErrors,
    waitForEvent: (predicate, timeoutMs = 5000, since = 0) =>
      pollFor(
        () => events.slice(since).find(predicate),
        timeoutMs,
        () => `sdk event; got types: ${events.map((e) => e.type).join(",")}`,
      ),
    async dispose() {
      if (disposed) return;
      disposed = true;
      if (session.isStreaming) await session.abort();
      if (session.extensionRunner.hasHandlers("session_shutdown")) {
        await session.extensionRunner.emit({ type: "session_shutdown", reason: "quit" });
      }
      session.dispose();
    },
  };
}
