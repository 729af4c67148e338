/** Public API of the pi-gateway package. */
export * from "./bus/index.js";
export * from "./protocol/event.js";
export * from "./protocol/keys.js";
export * from "./config/bus-options.js";
export { parseDuration, formatDuration } from "./config/duration.js";
