/**
 * Latency section: one event at a time, how long from "push" to "the consumer has it", against what
 * Redis itself needs to carry a message on the same loopback: a raw PUBLISH to a subscriber.
 *
 *   raw PUBLISH   one client PUBLISHes, another one SUBSCRIBEd receives the message (the floor:
 *                 one command and one pub/sub delivery).
 *   seed          the seed's producer and drain: LPUSH + PUBLISH, and a subscriber that on the
 *                 message runs LRANGE + DEL (lossy under concurrency, see the bus section).
 *   ours          GatewayBus.push (the push script, which publishes the notification) and the
 *                 EventConsumer the extension and the daemon run, up to its `deliver` callback
 *                 (claim script, schema check) - acknowledged before the next push.
 *
 * The three run interleaved, one sample each per round, so a noisy moment hits all of them alike;
 * BENCH_LATENCY_SAMPLES rounds (2,000; 300 with --quick) after 100 unmeasured ones. The figure of
 * issue #16 is ours' p99 over raw PUBLISH's p99.
 */
import { Redis } from "ioredis";
import { GatewayBus } from "../src/bus/bus.js";
import { EventConsumer } from "../src/bus/consumer.js";
import { createEvent } from "../src/protocol/event.js";
import { keySpace } from "../src/protocol/keys.js";
import { defineSection } from "./section.js";
import { fmt, interleaved, nowMs, round, summarize, table, type Summary } from "./stats.js";

const PREFIX = "benchlat";
const SESSION = "gateway";
const PAYLOAD = { file: "x".repeat(150) };

interface Row extends Record<string, unknown> {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface LatencyResult extends Record<string, unknown> {
  samples: number;
  raw: Row;
  seed: Row;
  ours: Row;
  /** ours p99 / raw PUBLISH p99 (issue #16: at most 5). */
  p99Ratio: number;
  p50Ratio: number;
}

/** Resolves the next time `arm` is answered; one waiter at a time. */
class Arrival {
  private waiting?: (at: number) => void;
  wait(): Promise<number> {
    return new Promise((resolve) => (this.waiting = resolve));
  }
  arrived(at: number): void {
    const resolve = this.waiting;
    this.waiting = undefined;
    resolve?.(at);
  }
}

const row = (s: Summary): Row => ({ p50: round(s.p50, 3), p90: round(s.p90, 3), p99: round(s.p99, 3), max: round(s.max, 3) });

export const latencySection = defineSection<LatencyResult>({
  name: "latency",
  description: "one event at a time: push → consumer has it, against a raw PUBLISH → subscriber",
  async run(ctx) {
    const redis = await ctx.redis();
    const samples = Number(process.env.BENCH_LATENCY_SAMPLES ?? (process.env.BENCH_QUICK ? 300 : 2_000));
    const warmup = 100;
    const clients: Redis[] = [];
    const client = () => {
      const c = new Redis(redis.url, { lazyConnect: false });
      clients.push(c);
      return c;
    };

    // Raw pub/sub.
    const rawPub = client();
    const rawSub = client();
    const rawArrival = new Arrival();
    await rawSub.subscribe("bench:raw");
    rawSub.on("message", () => rawArrival.arrived(nowMs()));

    // The seed's LPUSH + PUBLISH and LRANGE + DEL.
    const seedKeys = keySpace("benchseed");
    const seedList = seedKeys.events(SESSION);
    const seedChannel = seedKeys.notify(SESSION);
    const seedPub = client();
    const seedSub = client();
    const seedCmd = client();
    const seedArrival = new Arrival();
    await seedSub.subscribe(seedChannel);
    seedSub.on("message", () => {
      void seedCmd
        .multi()
        .lrange(seedList, 0, -1)
        .del(seedList)
        .exec()
        .then((replies) => {
          const items = (replies?.[0]?.[1] as string[] | undefined) ?? [];
          for (const item of items) JSON.parse(item);
          if (items.length) seedArrival.arrived(nowMs());
        });
    });

    // Ours.
    const bus = await GatewayBus.connect({ redisUrl: redis.url, prefix: PREFIX, name: "bench-latency", persistent: true });
    const oursArrival = new Arrival();
    const consumer = new EventConsumer({
      bus,
      sessionId: SESSION,
      role: "central",
      durable: true,
      kind: "bench",
      deliver: async () => oursArrival.arrived(nowMs()),
    });
    await consumer.start();

    let raw: number[], seed: number[], ours: number[];
    try {
      // One sample of each path per round (interleaved), after `warmup` unmeasured rounds.
      ({ raw, seed, ours } = await interleaved(
        samples,
        {
          raw: async () => {
            const arrived = rawArrival.wait();
            const t0 = nowMs();
            await rawPub.publish("bench:raw", "x");
            return (await arrived) - t0;
          },
          seed: async (i) => {
            const arrived = seedArrival.wait();
            const t0 = nowMs();
            const json = JSON.stringify({ id: `seed-${i}`, type: "bench.latency", source: "bench", payload: PAYLOAD, ts: Date.now() });
            await seedPub.multi().lpush(seedList, json).publish(seedChannel, "1").exec();
            return (await arrived) - t0;
          },
          ours: async () => {
            const arrived = oursArrival.wait();
            const t0 = nowMs();
            await bus.push(createEvent("bench.latency", "bench", PAYLOAD));
            return (await arrived) - t0;
          },
        },
        warmup,
      ));
    } finally {
      await consumer.stop();
      await bus.close();
      for (const c of clients) c.disconnect();
    }
    const r = summarize(raw);
    const s = summarize(seed);
    const o = summarize(ours);
    return { samples, raw: row(r), seed: row(s), ours: row(o), p99Ratio: round(o.p99 / r.p99, 2), p50Ratio: round(o.p50 / r.p50, 2) };
  },
  render(r) {
    const line = (name: string, x: Row) => [name, `${fmt(x.p50, 2)} ms`, `${fmt(x.p90, 2)} ms`, `${fmt(x.p99, 2)} ms`, `${fmt(x.max, 1)} ms`];
    return [
      table(
        ["path (one event at a time)", "p50", "p90", "p99", "max"],
        [line("raw PUBLISH → subscriber", r.raw), line("seed: LPUSH+PUBLISH → LRANGE+DEL", r.seed), line("ours: push → EventConsumer deliver", r.ours)],
      ),
      `ours vs raw PUBLISH: p99 ${r.p99Ratio}×, p50 ${r.p50Ratio}× (${r.samples} samples each, interleaved)`,
    ].join("\n");
  },
});
