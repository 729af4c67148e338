/**
 * The pino logger the daemon and the extension write to, built from GATEWAY_LOG_LEVEL and
 * GATEWAY_LOG_FORMAT (read through the settings schema).
 */
import { isatty } from "node:tty";
import { pino } from "pino";
import { build as prettyStream } from "pino-pretty";
import type { Logger } from "../util/log-types.js";
import { checkSetting } from "./resolve.js";

export type LogFormat = "json" | "pretty";

export interface LogFormatChoice {
  format: LogFormat;
  /** Set when GATEWAY_LOG_FORMAT holds something else than json / pretty (it was ignored). */
  problem?: string;
}

/**
 * Pretty lines for a person at a terminal, JSON lines for everything else (service managers, log
 * collectors, files); GATEWAY_LOG_FORMAT=json|pretty forces either. Pure, so it can be tested
 * without a terminal.
 */
export function chooseLogFormat(isTTY: boolean, env: Record<string, string | undefined> = process.env): LogFormatChoice {
  const { value, problem } = checkSetting("GATEWAY_LOG_FORMAT", env.GATEWAY_LOG_FORMAT);
  if (value) return { format: value };
  const format: LogFormat = isTTY ? "pretty" : "json";
  return problem ? { format, problem } : { format };
}

/**
 * A pino logger writing to a file descriptor (stderr by default) or a file path, in the format
 * chooseLogFormat picks for it. An invalid GATEWAY_LOG_FORMAT is logged as a warning, never fatal:
 * the extension must not break pi over a log setting (the daemon refuses it up front instead).
 */
export function createLogger(name: string, options: { level?: string; destination?: string | number } = {}): Logger {
  // A bad level is the default here (a logger never fails); the daemon refuses it up front.
  const level = options.level ?? checkSetting("GATEWAY_LOG_LEVEL", process.env.GATEWAY_LOG_LEVEL).value ?? "info";
  const dest = options.destination ?? 2;
  const isTTY = typeof dest === "number" && isatty(dest);
  const { format, problem } = chooseLogFormat(isTTY);
  const stream =
    format === "pretty"
      ? prettyStream({ destination: dest, sync: true, colorize: isTTY, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname" })
      : pino.destination({ dest, sync: true });
  const logger = pino({ name, level }, stream);
  if (problem) logger.warn({}, `${problem}; writing ${format}`);
  return logger;
}
