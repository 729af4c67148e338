/** Public API of the pi-gateway package. */
export * from "./bus/index.js";
export * from "./protocol/event.js";
export * from "./protocol/keys.js";
export * from "./config/bus-options.js";
export { parseDuration, formatDuration } from "./config/duration.js";
export * from "./heartbeat/schedule.js";
export * from "./heartbeat/scheduler.js";
export * from "./heartbeat/crontab.js";
// Pulls inngest and hono into the import graph of the package root (a few hundred ms at load).
export * from "./heartbeat/inngest.js";
