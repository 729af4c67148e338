/** What bench/bus.ts and its producer processes (bench/producer.ts) agree on. */

export type Mode = "naive" | "ours";

export type ToProducer = { type: "run"; mode: Mode; prefix: string; sid: string; events: number; payloadBytes: number } | { type: "exit" };

export interface ProducerDone {
  type: "done";
  /** Pushes that were accepted. */
  pushed: number;
  /** Pushes GatewayBus refused as duplicates (never expected here: every id is fresh). */
  refused: number;
  failed: number;
  startedAt: number;
  endedAt: number;
  firstError?: string;
}

export type FromProducer = { type: "ready" } | ProducerDone | { type: "fatal"; error: string };

export interface BenchPayload {
  producer: number;
  seq: number;
  /** nowMs() right before the push. */
  sentAt: number;
  pad: string;
}

/** Same id scheme for both approaches, so losses and duplicates are counted by id. */
export function eventId(producer: number, seq: number): string {
  return `bench-p${producer}-${seq}`;
}
