/** One call for scripts and jobs: connect (REDIS_URL etc.), push with retries, disconnect. */
import { resolveBusOptions, type BusOptions } from "../config/bus-options.js";
import { GatewayBus, type PushOptions, type PushResult } from "./bus.js";

export async function pushGatewayEvent(
  type: string,
  source: string,
  payload: unknown = {},
  options: PushOptions & { id?: string } & Partial<BusOptions> = {},
): Promise<PushResult> {
  const { target, originSession, id, ...busOptions } = options;
  const settings = resolveBusOptions(busOptions);
  // Redis down at the start is covered by the same retry window as a failure mid-push. A library
  // has nowhere to print the "retrying" notice; the final error still says what was tried and why.
  const bus = await GatewayBus.connectRetrying({ ...busOptions, name: "pi-gateway:producer" }, settings.pushRetryMs, () => undefined);
  try {
    return await bus.pushEvent(type, source, payload, { target, originSession, id });
  } finally {
    await bus.close();
  }
}
