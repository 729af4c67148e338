/**
 * The suite fixture of the daemon and extension tests: a private Redis + bus (`useRedisBus`), a fake
 * LLM started before the suite and closed after it, and, unless `piEnv: false`, a fresh pi
 * environment per test with a `daemon(extra, args)` launcher for the built daemon. Daemons started
 * through it are ended after each test (kill -9, or a graceful stop), then the pi environment is
 * removed. Hooks are registered in this order: Redis + bus, fake LLM, then the per-test ones; a
 * suite's own hooks registered after the call run after these.
 */
import { after, afterEach, before, beforeEach } from "node:test";
import type { GatewayBus } from "../../src/bus/bus.js";
import { startDaemon, type DaemonProcess } from "./daemon.js";
import { startFakeLlm, type FakeLlm } from "./fake-llm.js";
import { createPiEnv, type PiEnv, type PiEnvOptions } from "./pi-env.js";
import { useRedisBus } from "./redis-bus.js";
import type { RedisServer, RedisServerOptions } from "./redis-server.js";

export interface PiSuiteOptions {
  /** Redis with AOF (fsync on every write). */
  aof?: boolean;
  /** FLUSHALL before every test. */
  flushEach?: boolean;
  /** Options of the per-test pi environment (the fake LLM's URL is filled in), or false for none (no daemon launcher). */
  piEnv?: Omit<PiEnvOptions, "llmUrl"> | false;
  /** Called as soon as the fake LLM is up, in the same `before` hook (e.g. to set a suite-wide responder). */
  llmReady?: (llm: FakeLlm) => void;
  /** GATEWAY_TOKEN of every daemon; without it the daemon's env has none unless `extra` gives one. */
  token?: string;
  /** GATEWAY_LOG_LEVEL of every daemon (default "warn"). */
  logLevel?: string;
  /** More env of every daemon, read when it starts (after the defaults above, before `extra`). */
  env?: () => Record<string, string>;
  /** How the daemons still running end after each test (default "kill": kill -9; "stop": SIGTERM and wait). */
  end?: "kill" | "stop";
  /** After each test, before the daemons end (e.g. close the suite's sockets). */
  beforeEnd?: () => void | Promise<void>;
  /** After each test, after the daemons ended and before the pi environment is removed. */
  afterEnd?: () => void | Promise<void>;
}

export interface PiSuite {
  readonly redis: RedisServer;
  readonly bus: GatewayBus;
  readonly llm: FakeLlm;
  /** This test's pi environment. */
  readonly piEnv: PiEnv;
  /** The daemon's env: `{...piEnv.env, REDIS_URL, GATEWAY_TOKEN?, GATEWAY_LOG_LEVEL, ...env(), ...extra}`. */
  env(extra?: Record<string, string>): Record<string, string>;
  /** Starts the built daemon with `--cwd piEnv.cwd ...args`; it is ended after the test. */
  daemon(extra?: Record<string, string>, args?: string[]): Promise<DaemonProcess>;
}

export function usePiSuite(options: PiSuiteOptions = {}): PiSuite {
  let redis: RedisServer | undefined;
  let bus: GatewayBus | undefined;
  let llm: FakeLlm | undefined;
  let piEnv: PiEnv | undefined;
  const running: DaemonProcess[] = [];
  const redisOptions: RedisServerOptions & { flushEach?: boolean } = { flushEach: options.flushEach };
  if (options.aof) redisOptions.aof = true;

  useRedisBus(redisOptions, (r, b) => {
    redis = r;
    bus = b;
  });
  before(async () => {
    llm = await startFakeLlm();
    options.llmReady?.(llm);
  });
  after(async () => {
    await llm?.close();
  });

  const piEnvOptions = options.piEnv;
  if (piEnvOptions !== false) {
    beforeEach(() => {
      piEnv = createPiEnv({ llmUrl: suite.llm.url, ...piEnvOptions });
    });
    afterEach(async () => {
      await options.beforeEnd?.();
      for (const d of running.splice(0)) {
        if (options.end === "stop") await d.stop();
        else await d.kill();
      }
      await options.afterEnd?.();
      piEnv?.cleanup();
    });
  }

  const ready = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`pi suite: ${what} is not ready (used outside a test or its hooks?)`);
    return value;
  };
  const suite: PiSuite = {
    get redis() {
      return ready(redis, "redis");
    },
    get bus() {
      return ready(bus, "bus");
    },
    get llm() {
      return ready(llm, "the fake LLM");
    },
    get piEnv() {
      return ready(piEnv, "the pi environment");
    },
    env(extra = {}) {
      return {
        ...suite.piEnv.env,
        REDIS_URL: suite.redis.url,
        ...(options.token === undefined ? {} : { GATEWAY_TOKEN: options.token }),
        GATEWAY_LOG_LEVEL: options.logLevel ?? "warn",
        ...options.env?.(),
        ...extra,
      };
    },
    async daemon(extra = {}, args = []) {
      const d = await startDaemon(suite.env(extra), ["--cwd", suite.piEnv.cwd, ...args]);
      running.push(d);
      return d;
    },
  };
  return suite;
}
