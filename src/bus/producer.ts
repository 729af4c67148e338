/** One call for scripts and jobs: connect (REDIS_URL etc.), push with retries, disconnect. */
import type { BusOptions } from "../config/bus-options.js";
import { GatewayBus, type PushOptions, type PushResult } from "./bus.js";

export async function pushGatewayEvent(
  type: string,
  source: string,
  payload: unknown = {},
  options: PushOptions & { id?: string } & Partial<BusOptions> = {},
): Promise<PushResult> {
  const { target, originSession, id, ...busOptions } = options;
  const bus = await GatewayBus.connect({ ...busOptions, name: "pi-gateway:producer" });
  try {
    return await bus.pushEvent(type, source, payload, { target, originSession, id });
  } finally {
    await bus.close();
  }
}
