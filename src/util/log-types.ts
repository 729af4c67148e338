/**
 * The logging surface the library code needs (pino's (obj, msg) call shape), apart from
 * ./logger.ts so that type-only users without Node types (the browser app, through
 * daemon/types.ts) can name it.
 */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
