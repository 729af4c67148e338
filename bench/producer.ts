/**
 * One event producer, run as a child process by bench/bus.ts (one process per producer, so the
 * producers really are concurrent clients, as cron jobs, download hooks and scripts would be).
 *
 * It connects once, then on each "run" message pushes `events` events back to back (each push
 * awaited, no pipelining) with either the seed's naive commands or GatewayBus.push, and answers
 * "done" with its counts. Every event carries its push timestamp (payload.sentAt, see nowMs()).
 */
import { Redis } from "ioredis";
import { GatewayBus } from "../src/bus/bus.js";
import { createEvent } from "../src/protocol/event.js";
import { keySpace } from "../src/protocol/keys.js";
import { eventId, type BenchPayload, type FromProducer, type ToProducer } from "./bus-shared.js";
import { nowMs } from "./stats.js";

const producer = Number(process.env.BENCH_PRODUCER_INDEX ?? "0");
const redisUrl = process.env.BENCH_REDIS_URL ?? "";

function send(message: FromProducer): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  if (!process.send || !redisUrl) throw new Error("bench/producer.ts is started by bench/bus.ts");
  // The seed's producer: a plain client doing LPUSH + PUBLISH.
  const plain = new Redis(redisUrl, { connectionName: `bench-naive-producer-${producer}`, lazyConnect: true });
  plain.on("error", () => undefined);
  await plain.connect();
  const buses = new Map<string, GatewayBus>();
  const busFor = async (prefix: string) => {
    let bus = buses.get(prefix);
    if (!bus) {
      bus = await GatewayBus.connect({ redisUrl, prefix, name: `bench-producer-${producer}` });
      buses.set(prefix, bus);
    }
    return bus;
  };

  const run = async (msg: Extract<ToProducer, { type: "run" }>): Promise<FromProducer> => {
    const keys = keySpace(msg.prefix);
    const bus = msg.mode === "ours" ? await busFor(msg.prefix) : undefined;
    const pad = "x".repeat(msg.payloadBytes);
    let pushed = 0;
    let refused = 0;
    let failed = 0;
    let firstError: string | undefined;
    const startedAt = nowMs();
    for (let seq = 0; seq < msg.events; seq++) {
      const sentAt = nowMs();
      const payload: BenchPayload = { producer, seq, sentAt, pad };
      const id = eventId(producer, seq);
      try {
        if (bus) {
          const result = await bus.push(createEvent("bench.event", `bench-producer-${producer}`, payload, { id, ts: Math.floor(sentAt) }));
          if (result.status === "pushed") pushed++;
          else refused++;
        } else {
          // Exactly the seed's wire format and commands: LPUSH the JSON, then PUBLISH a wake-up.
          const raw = JSON.stringify({ id, type: "bench.event", source: `bench-producer-${producer}`, payload, ts: Math.floor(sentAt) });
          await plain.lpush(keys.events(msg.sid), raw);
          await plain.publish(keys.notify(msg.sid), JSON.stringify({ type: "bench.event", id }));
          pushed++;
        }
      } catch (error) {
        failed++;
        firstError ??= (error as Error).message;
      }
    }
    return { type: "done", pushed, refused, failed, startedAt, endedAt: nowMs(), ...(firstError ? { firstError } : {}) };
  };

  let queue = Promise.resolve();
  process.on("message", (msg: ToProducer) => {
    queue = queue.then(async () => {
      if (msg.type === "exit") {
        for (const bus of buses.values()) await bus.close();
        await plain.quit().catch(() => plain.disconnect());
        process.disconnect();
        return;
      }
      send(await run(msg));
    });
  });
  send({ type: "ready" });
}

main().catch((error: Error) => {
  send({ type: "fatal", error: error.message });
  process.exitCode = 1;
  process.disconnect?.();
});
