export * from "./bus.js";
export * from "./consumer.js";
export * from "./producer.js";
export * from "./errors.js";
export * from "./lease.js";
export { createClient, connectClient, redactUrl } from "./connection.js";
export * from "./schedules.js";
export * from "./notifications.js";
export * from "./pairing.js";
