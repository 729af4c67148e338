/** Public API of the pi-gateway package. */
export * from "./bus/index.js";
export * from "./protocol/event.js";
export * from "./protocol/keys.js";
export * from "./config/bus-options.js";
export { parseDuration, formatDuration } from "./config/duration.js";
export * from "./heartbeat/schedule.js";
export * from "./heartbeat/scheduler.js";
export * from "./heartbeat/crontab.js";
// The Inngest function factory and Hono serve helper live at "pi-gateway/inngest", so importing the
// package root does not load inngest and hono.
