/** Health probes: /healthz (the process answers) and /readyz (it can do its work: Redis is there). */
import type { Hono } from "hono";
import type { HttpAppOptions, Readiness } from "../options.js";

export function registerProbes(app: Hono, options: HttpAppOptions): void {
  app.get("/healthz", (c) => c.json({ ok: true }));

  app.get("/readyz", async (c) => {
    let readiness: Readiness;
    try {
      if (options.ready) readiness = await options.ready();
      else if (options.bus) readiness = { ready: options.bus.isReady, reason: `redis ${options.bus.connectionState}` };
      else readiness = true;
    } catch (error) {
      readiness = { ready: false, reason: (error as Error).message };
    }
    const ready = typeof readiness === "boolean" ? readiness : readiness.ready;
    if (ready) return c.json({ ready: true });
    const reason = (typeof readiness === "object" && readiness.reason) || "not ready";
    return c.json({ ready: false, error: reason, code: "NOT_READY" }, 503);
  });
}
