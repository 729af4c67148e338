/**
 * The classes of settings (duration, URL, JSON, list, port, count...): each builds a `Setting`, a
 * zod schema from the text of a variable to its typed value plus what the docs and `pi-gateway
 * config` show. An issue's message is the problem ("is not a duration"); `expected` says the form.
 */
import { z } from "zod";
import { DURATION_FORM, durationMs, formatDuration } from "./duration.js";
import { redisUrlProblem, REDIS_URL_FORM } from "./redis-url.js";
import { quoteInput } from "../util/text.js";

export type SettingClass = "duration" | "size" | "url" | "json" | "list" | "port" | "count" | "number" | "enum" | "string" | "path" | "boolean";

export type SettingGroup = "bus" | "session" | "daemon" | "context" | "telegram" | "other";

export interface Setting<T, Resolved = T | undefined> {
  class: SettingClass;
  group: SettingGroup;
  /** From the variable's text (never empty: empty means unset) to its value. */
  schema: z.ZodType<T, string>;
  /** How a valid value looks, for error messages. */
  expected: string;
  help: string;
  /** The default as the README shows it (without backticks); "" when there is none. */
  defaultText: string;
  /** The value when unset (parsed from the default's text, so the docs and the code cannot differ). */
  defaultValue: Resolved;
  /** Never shown: messages and `pi-gateway config` describe it by length only. */
  secret?: boolean;
  /** Shows a value in messages and `pi-gateway config` (URLs without their password). */
  show?: (raw: string) => string;
}

/** What every declaration says; `default` is a value's text, `docDefault` words for a computed default. */
export interface Spec<D extends string | undefined> {
  group: SettingGroup;
  help: string;
  default?: D;
  docDefault?: string;
  secret?: boolean;
}

type Resolved<T, D> = D extends string ? T : T | undefined;

function define<T, D extends string | undefined>(
  cls: SettingClass,
  schema: z.ZodType<T, string>,
  expected: string,
  spec: Spec<D>,
  show?: (raw: string) => string,
): Setting<T, Resolved<T, D>> {
  const defaultValue = spec.default === undefined ? undefined : schema.parse(spec.default);
  return {
    class: cls,
    group: spec.group,
    schema,
    expected,
    help: spec.help,
    defaultText: spec.docDefault ?? spec.default ?? "",
    defaultValue: defaultValue as Resolved<T, D>,
    secret: spec.secret,
    show,
  };
}

/** A zod transform that reports `problem` when `parse` returns undefined. */
function parsed<T>(parse: (text: string) => T | undefined, problem: string | ((text: string) => string)): z.ZodType<T, string> {
  return z.string().transform((text, ctx) => {
    const value = parse(text);
    if (value !== undefined) return value;
    ctx.addIssue({ code: "custom", message: typeof problem === "string" ? problem : problem(text) });
    return z.NEVER;
  });
}

/** Under setTimeout's longest delay (2^31 - 1 ms, about 24.8 days): a longer one would fire at once. */
export const LONGEST_TIMER_MS = 24 * 86_400_000;

export function duration<D extends string | undefined = undefined>(spec: Spec<D> & { min?: number; max?: number }) {
  const min = spec.min ?? 0;
  const max = spec.max ?? LONGEST_TIMER_MS;
  const schema = parsed(durationMs, "is not a duration")
    .refine((ms) => ms >= min, min === 1 ? "is not more than 0" : `is less than ${formatDuration(min)}`)
    .refine((ms) => ms <= max, `is more than ${formatDuration(max)}`);
  return define("duration", schema, DURATION_FORM, spec);
}

/** A whole number from `min` to `max` (digits only: no sign, exponent or fraction). */
export function count<D extends string | undefined = undefined>(spec: Spec<D> & { min?: number; max?: number }) {
  const min = spec.min ?? 1;
  const max = spec.max ?? Number.MAX_SAFE_INTEGER;
  const schema = parsed((text) => (/^\s*\d{1,16}\s*$/.test(text) ? Number(text) : undefined), "is not a whole number")
    .refine((n) => n >= min, `is less than ${min}`)
    .refine((n) => n <= max, `is more than ${max}`);
  const expected = max === Number.MAX_SAFE_INTEGER ? `a whole number, at least ${min}` : `a whole number from ${min} to ${max}`;
  return define("count", schema, expected, spec);
}

const BYTE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/** A number of bytes: digits with an optional binary unit (8MiB, 512KiB, 1048576), at least `min`. */
export function size<D extends string | undefined = undefined>(spec: Spec<D> & { min: number; minText: string }) {
  const bytes = (text: string) => {
    const match = /^\s*(\d{1,16})\s*([a-z]*)\s*$/i.exec(text);
    const factor = match ? BYTE_UNITS[match[2]!.toLowerCase()] : undefined;
    const value = factor === undefined ? undefined : Number(match![1]) * factor;
    return value !== undefined && Number.isSafeInteger(value) ? value : undefined;
  };
  const schema = parsed(bytes, "is not a size").refine((n) => n >= spec.min, `is less than ${spec.minText}`);
  return define("size", schema, "a size such as 8MiB, 512KiB or 1048576", spec);
}

/** A decimal number from `min` to `max`. */
export function decimal<D extends string | undefined = undefined>(spec: Spec<D> & { min: number; max: number; example: string }) {
  const schema = parsed((text) => (/^\s*\d{0,6}\.?\d{1,6}\s*$/.test(text) ? Number(text) : undefined), "is not a number")
    .refine((n) => n >= spec.min, `is less than ${spec.min}`)
    .refine((n) => n <= spec.max, `is more than ${spec.max}`);
  return define("number", schema, `a number from ${spec.min} to ${spec.max}, such as ${spec.example}`, spec);
}

export function port<D extends string | undefined = undefined>(spec: Spec<D>) {
  const schema = parsed((text) => (/^\s*\d{1,5}\s*$/.test(text) && Number(text) <= 65535 ? Number(text) : undefined), "is not a port");
  return define("port", schema, "a number from 1 to 65535, or 0 for any free one", spec);
}

export function oneOf<const V extends string, D extends V | undefined = undefined>(values: readonly V[], spec: Spec<D> & { caseless?: boolean }) {
  const normal = (text: string) => (spec.caseless ? text.trim().toLowerCase() : text.trim());
  const schema = parsed((text) => values.find((v) => normal(v) === normal(text)), `is not ${values.join(" or ")}`);
  return define("enum", schema, `one of ${values.join(", ")}`, spec);
}

/** Text taken as it is (surrounding blanks removed), optionally checked by `pattern`. */
export function text<D extends string | undefined = undefined>(spec: Spec<D> & { pattern?: RegExp; form?: string }) {
  const schema = parsed((value) => (!spec.pattern || spec.pattern.test(value.trim()) ? value.trim() : undefined), "is not valid");
  return define("string", schema, spec.form ?? "any text", spec);
}

export function path<D extends string | undefined = undefined>(spec: Spec<D>) {
  // eslint-disable-next-line no-control-regex
  const schema = parsed((value) => (/[\u0000-\u001f]/.test(value) ? undefined : value.trim()), "has control characters");
  return define("path", schema, "a file path", spec);
}

export function flag<D extends string | undefined = undefined>(spec: Spec<D>) {
  const truth: Record<string, boolean> = { "1": true, true: true, yes: true, "0": false, false: false, no: false };
  const schema = parsed((value) => truth[value.trim().toLowerCase()], "is not 1 or 0");
  return define("boolean", schema, "1 (or true, yes) to turn on, 0 (or false, no) to turn off", spec);
}

export function redisUrl<D extends string | undefined = undefined>(spec: Spec<D>, show: (raw: string) => string) {
  const schema = z.string().transform((value, ctx) => {
    const problem = redisUrlProblem(value);
    if (!problem) return value.trim();
    ctx.addIssue({ code: "custom", message: problem });
    return z.NEVER;
  });
  return define("url", schema, REDIS_URL_FORM, spec, show);
}

export function httpUrl<D extends string | undefined = undefined>(spec: Spec<D>) {
  const schema = parsed(
    (value) => (URL.canParse(value.trim()) && /^https?:$/.test(new URL(value.trim()).protocol) ? value.trim() : undefined),
    "is not an http:// or https:// URL",
  );
  return define("url", schema, "http(s)://host[:port][/path]", spec);
}

/**
 * Comma-separated items, each parsed by `item`; blank items are skipped. `show` is how an item (and
 * the whole value) appears in messages: a secret inside an item (a URL's password) stays masked.
 */
export function list<T, D extends string | undefined = undefined>(
  item: z.ZodType<T, string>,
  spec: Spec<D> & { form: string },
  show: (raw: string) => string = (raw) => raw,
) {
  const schema = z.string().transform((value, ctx) => {
    const items: T[] = [];
    for (const part of value
      .split(",")
      .map((p) => p.trim())
      .filter(Boolean)) {
      const result = item.safeParse(part);
      if (!result.success) {
        ctx.addIssue({ code: "custom", message: `has ${quoteInput(show(part), 60)}, which ${result.error.issues[0]!.message}` });
        return z.NEVER;
      }
      items.push(result.data);
    }
    return items;
  });
  return define("list", schema, spec.form, spec, (raw) => raw.split(",").map(show).join(","));
}

/**
 * Comma-separated Redis URLs of more seed nodes of a Redis Cluster (only host and port are used).
 * A cluster has only database 0, so a seed naming another is refused; an item is shown without
 * its password.
 */
export function redisSeedList<D extends string | undefined = undefined>(spec: Spec<D>, show: (raw: string) => string) {
  const seed = z.string().transform((part, ctx) => {
    const problem =
      redisUrlProblem(part) ?? (/^\/[1-9]\d*$/.test(new URL(part).pathname) ? "names a database, but a Redis Cluster has only database 0" : undefined);
    if (!problem) return part;
    ctx.addIssue({ code: "custom", message: problem });
    return z.NEVER;
  });
  return list(seed, { ...spec, form: "redis://host:port,redis://host:port,… (seed nodes of a Redis Cluster)" }, show);
}

/** A JSON document whose shape `shape` checks. */
export function json<T, D extends string | undefined = undefined>(shape: z.ZodType<T>, spec: Spec<D> & { form: string }) {
  const schema = z.string().transform((value, ctx) => {
    let data: unknown;
    try {
      data = JSON.parse(value);
    } catch {
      ctx.addIssue({ code: "custom", message: "is not valid JSON" });
      return z.NEVER;
    }
    const result = shape.safeParse(data);
    if (result.success) return result.data;
    const issue = result.error.issues[0]!;
    const where = issue.path.length ? ` at ${issue.path.map(String).join(".")}` : "";
    ctx.addIssue({ code: "custom", message: `does not fit${where}: ${issue.message}` });
    return z.NEVER;
  });
  return define("json", schema, spec.form, spec);
}
