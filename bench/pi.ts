/**
 * Push-to-LLM latency through the REAL pi (rpc mode) with the gateway extension: the time from a
 * producer's push until pi's request carrying the event reaches the (fake) LLM. That is the whole
 * path: push.lua, notify, claim, injection into pi, pi's turn start, the HTTP request.
 *
 * Side by side: the same with the notification suppressed (a producer that only LPUSHes), which
 * leaves the consumer's safety-net poll to find the event: the cost of not publishing.
 */
import { Redis } from "ioredis";
import { GatewayBus } from "../src/bus/bus.js";
import { createEvent } from "../src/protocol/event.js";
import { startFakeLlm } from "../test/helpers/fake-llm.js";
import { createPiEnv, startRpcPi } from "../test/helpers/pi-env.js";
import { defineSection } from "./section.js";
import { fmt, nowMs, round, summarize, table, type Summary } from "./stats.js";

interface PiResult extends Record<string, unknown> {
  config: { events: number; pollOnlyEvents: number; pollInterval: string };
  notify: Summary;
  pollOnly: Summary;
  ratioP50: number;
}

const extensionPath = new URL("../dist/extension/index.js", import.meta.url).pathname;

export const piSection = defineSection<PiResult>({
  name: "pi",
  description: "push-to-LLM-request latency through the real pi in rpc mode",
  async run(ctx) {
    const events = Number(process.env.BENCH_PI_EVENTS ?? "40");
    const pollOnlyEvents = Number(process.env.BENCH_PI_POLL_EVENTS ?? "10");
    const pollInterval = "1s";
    const redis = await ctx.redis();
    const llm = await startFakeLlm();
    const bus = await GatewayBus.connect({ redisUrl: redis.url });
    const raw = new Redis(redis.url);
    await bus.client.flushall();
    const piEnv = createPiEnv({
      llmUrl: llm.url,
      extensions: [extensionPath],
      env: { REDIS_URL: redis.url, GATEWAY_ROLE: "central", GATEWAY_POLL_INTERVAL: pollInterval },
    });
    const pi = await startRpcPi(piEnv);
    try {
      const deadline = Date.now() + 15_000;
      while (!(await bus.sessions()).some((s) => s.id === "gateway" && s.live)) {
        if (Date.now() > deadline) throw new Error("central pi session did not register");
        await new Promise((r) => setTimeout(r, 50));
      }
      const measure = async (id: string, push: () => Promise<unknown>): Promise<number> => {
        const since = pi.events.length;
        const started = nowMs();
        await push();
        await llm.waitForRequest((r) => r.lastUserText.includes(id), 15_000);
        const elapsed = nowMs() - started;
        // One idle turn per event: wait for it to end so the next push also starts a turn.
        await pi.waitForEvent((e) => e.type === "agent_end", 15_000, since);
        return elapsed;
      };
      const withNotify: number[] = [];
      for (let i = 0; i < events + 3; i++) {
        const id = `bench-pi-${i}`;
        const ms = await measure(id, () => bus.push(createEvent("bench.event", "bench", { i }, { id })));
        if (i >= 3) withNotify.push(ms); // the first few warm up pi and the JIT
      }
      ctx.log(`pi: ${withNotify.length} notified pushes measured`);
      const pollOnly: number[] = [];
      for (let i = 0; i < pollOnlyEvents; i++) {
        const id = `bench-poll-${i}`;
        const event = JSON.stringify(createEvent("bench.event", "bench", { i }, { id }));
        pollOnly.push(await measure(id, () => raw.lpush("agent:events:main", event)));
      }
      ctx.log(`pi: ${pollOnly.length} poll-only pushes measured`);
      const notify = summarize(withNotify);
      const poll = summarize(pollOnly);
      return {
        config: { events, pollOnlyEvents, pollInterval },
        notify,
        pollOnly: poll,
        ratioP50: round(poll.p50 / notify.p50, 1),
      };
    } finally {
      await pi.stop();
      piEnv.cleanup();
      raw.disconnect();
      await bus.close();
      await llm.close();
    }
  },
  render(result) {
    const row = (label: string, s: Summary) => [label, String(s.count), fmt(s.p50), fmt(s.p90), fmt(s.p99), fmt(s.max)];
    return [
      `pi ${"(rpc mode)"} with the gateway extension, fake LLM on loopback, one idle turn per event`,
      table(
        ["path", "events", "p50 ms", "p90 ms", "p99 ms", "max ms"],
        [row("push + notify (pi-gateway push)", result.notify), row(`LPUSH only (safety-net poll, ${result.config.pollInterval})`, result.pollOnly)],
      ),
      `poll-only p50 / notify p50: ${result.ratioP50}x`,
    ].join("\n");
  },
});
