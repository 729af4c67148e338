/**
 * Redis URLs: checked before anything connects with them, so a typo is one line naming where it
 * came from and the expected form, not the Redis client's bare "Invalid URL" or a connection attempt to
 * somewhere unintended; and shown without their password.
 */
import { settingError } from "./errors.js";
import { quoteInput } from "../util/text.js";

export const REDIS_URL_FORM = "redis://[user:password@]host:port[/db] or rediss://… for TLS";

/** What is wrong with `value` as a Redis URL (a phrase following the value), or undefined. */
export function redisUrlProblem(value: string): string | undefined {
  if (!value.trim()) return "is empty";
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value)?.[1];
  if (!scheme) return "is not a URL";
  if (!/^rediss?$/i.test(scheme)) return `has the scheme ${scheme}://, not redis:// or rediss://`;
  // URL() drops tabs and newlines silently; the Redis client would get the raw text.
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f]/.test(value.trim())) return "has blanks or control characters";
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    const port = portOf(value.slice(scheme.length + 3));
    if (port !== undefined && !isPort(port)) return `has port ${quoteInput(port, 20)}, not a number from 1 to 65535`;
    return "is not a valid URL";
  }
  if (!url.hostname) return "has no host";
  if (url.port === "0") return `has port "0", not a number from 1 to 65535`;
  if (!/^(\/\d*)?$/.test(url.pathname)) return `has database ${quoteInput(url.pathname.slice(1), 20)}, not a number`;
  return undefined;
}

/** Checks a Redis URL from `from` (REDIS_URL, --redis-url...); returns it unchanged or throws a ConfigError. */
export function parseRedisUrl(value: string, from: string): string {
  const problem = redisUrlProblem(value);
  if (problem) throw settingError(from, redactUrl(value), problem, REDIS_URL_FORM);
  return value;
}

/** The port part of "user:pass@host:port/db", if any (an IPv6 host is in brackets). */
function portOf(rest: string): string | undefined {
  const authority = rest.split(/[/?#]/)[0]!;
  const host = authority.slice(authority.lastIndexOf("@") + 1);
  const match = /^(?:\[[^\]]*\]|[^:]*):(.*)$/.exec(host);
  return match?.[1];
}

function isPort(text: string): boolean {
  return /^\d+$/.test(text) && Number(text) >= 1 && Number(text) <= 65535;
}

/** The URL without its password, for messages and logs (masked even when the URL does not parse). */
export function redactUrl(url: string): string {
  // Without "//", URL() reads "user:secret@host" as scheme "user:" and a path: use the pattern.
  if (url.includes("://")) {
    try {
      const parsed = new URL(url);
      if (!parsed.password) return url;
      parsed.password = "***";
      return parsed.toString().replace(/\/$/, "");
    } catch {
      // not parseable: masked by the pattern below
    }
  }
  return url.replace(/^([^/@\s]*:\/\/)?([^/@\s:]*):[^/@\s]+@/, "$1$2:***@");
}
