/**
 * A real pi in rpc mode with the built pi-gateway extension, on the suite's Redis and fake LLM:
 * what the extension's rpc tests start, one per session they need. Each pi and its environment
 * are registered in `cleanups` (run in reverse after each test).
 */
import type { PiSuite } from "./pi-suite.js";
import { createPiEnv, startRpcPi, type PiEnv, type RpcPi } from "./pi-env.js";

const extensionPath = new URL("../../dist/extension/index.js", import.meta.url).pathname;

export async function startExtensionPi(
  suite: { llm: Pick<PiSuite["llm"], "url">; redis: Pick<PiSuite["redis"], "url"> },
  cleanups: Array<() => Promise<void> | void>,
  env: Record<string, string>,
  presenceTtl: string,
): Promise<RpcPi & { piEnv: PiEnv }> {
  const piEnv = createPiEnv({
    llmUrl: suite.llm.url,
    extensions: [extensionPath],
    env: { REDIS_URL: suite.redis.url, GATEWAY_POLL_INTERVAL: "500ms", GATEWAY_PRESENCE_TTL: presenceTtl, GATEWAY_ROLE: "", GATEWAY_ID: "", ...env },
  });
  const pi = await startRpcPi(piEnv);
  cleanups.push(() => piEnv.cleanup());
  cleanups.push(() => pi.stop());
  return { ...pi, piEnv };
}
