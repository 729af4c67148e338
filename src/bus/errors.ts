import { formatDuration } from "../config/duration.js";

/** An expected failure with a one-line message meant for the user (no stack trace needed). */
export class GatewayError extends Error {
  override name = "GatewayError";
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** Why Redis could not be used; decides the advice given and whether trying again can help. */
export type RedisFailure = "refused" | "timeout" | "auth" | "tls" | "not-found" | "lost" | "other";

export interface RedisFailureInfo {
  failure: RedisFailure;
  /** The underlying error text (or what we waited for), shown in parentheses. */
  detail?: string;
  /** For "timeout": how long we waited. */
  waitedMs?: number;
}

const START_HINT = "start it (redis-server --appendonly yes, or pi-gateway daemon, which starts its own) or set REDIS_URL / --redis-url to where it runs";

/**
 * Redis could not be reached or would not let us in. The message is one line: what was tried
 * (the redacted URL), why, and what to do. Every command and the daemon share it, so the same
 * trouble always reads the same way.
 */
export class RedisUnreachableError extends GatewayError {
  override name = "RedisUnreachableError";
  /** "Redis at <url> refused the connection": what happened, without the advice. */
  readonly summary: string;
  /** What the user should do about it. */
  readonly hint: string;

  constructor(
    /** Already redacted: never holds a password. */
    readonly url: string,
    readonly info: RedisFailureInfo,
    /** Extra context between the summary and the hint, e.g. how long a producer kept trying. */
    readonly note?: string,
  ) {
    const { summary, hint } = describeRedisFailure(url, info);
    super(`${summary}${note ? ` (${note})` : ""}: ${hint}`, "REDIS_UNREACHABLE");
    this.summary = summary;
    this.hint = hint;
  }

  get failure(): RedisFailure {
    return this.info.failure;
  }

  /** A wrong password or an untrusted certificate stays wrong: trying again only delays the answer. */
  get retryable(): boolean {
    return this.info.failure !== "auth" && this.info.failure !== "tls";
  }

  /** The same failure with context added (kept on the same line). */
  withNote(note: string): RedisUnreachableError {
    return new RedisUnreachableError(this.url, this.info, note);
  }
}

/**
 * A write on a Redis Cluster that its primary made but fewer than GATEWAY_CLUSTER_WAIT_REPLICAS
 * replicas confirmed within the wait (docs/cluster.md §5): a failover now could lose it, so the
 * caller is not told it is done. Retrying with the same id is safe (each acknowledged script is
 * idempotent for its id); `reply` is what the script answered on the primary.
 */
export class NotAcknowledgedError extends GatewayError {
  override name = "NotAcknowledgedError";
  /** The failure in a few words, for a "retrying" line. */
  readonly summary: string;
  constructor(
    readonly operation: string,
    readonly acknowledged: number,
    readonly wanted: number,
    readonly waitedMs: number,
    readonly reply: unknown,
    note?: string,
  ) {
    super(
      `Redis Cluster write "${operation}" not acknowledged: ${acknowledged} of ${wanted} replica${wanted === 1 ? "" : "s"} confirmed it within ` +
        `${formatDuration(waitedMs)}${note ? ` (${note})` : ""}: its primary has no replica in sync (a failover under way, or its replica down), ` +
        "so a failover now could lose it; the gateway retries with the same id. GATEWAY_CLUSTER_WAIT_REPLICAS=0 stops waiting, at that risk",
      "NOT_ACKNOWLEDGED",
    );
    this.summary = `no replica of the Redis Cluster primary confirmed "${operation}" within ${formatDuration(waitedMs)}`;
  }

  /** The same failure with context added (kept on the same line). */
  withNote(note: string): NotAcknowledgedError {
    return new NotAcknowledgedError(this.operation, this.acknowledged, this.wanted, this.waitedMs, this.reply, note);
  }
}

/**
 * A Redis Cluster on which GATEWAY_CLUSTER_WAIT_REPLICAS can never be met: a primary has fewer
 * replicas than every acknowledged write waits for (cluster-replicas.ts). Said at connect, with the fix.
 */
export class ClusterReplicasError extends GatewayError {
  override name = "ClusterReplicasError";
  constructor(
    /** What is wrong, in one sentence. */
    readonly summary: string,
    /** What to do about it. */
    readonly hint: string,
  ) {
    super(`${summary}: ${hint}`, "CLUSTER_REPLICAS");
  }
}

/** Sorts a connection error (ioredis, net, tls) into the failures a user can act on. */
export function classifyRedisError(error: Error | undefined, waitedMs?: number): RedisFailureInfo {
  if (!error) return { failure: "timeout", waitedMs };
  const code = (error as NodeJS.ErrnoException).code ?? "";
  const detail = error.message;
  if (code === "ECONNREFUSED") return { failure: "refused", detail };
  if (code === "ETIMEDOUT" || /ETIMEDOUT/.test(detail)) return { failure: "timeout", detail, waitedMs };
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return { failure: "not-found", detail };
  if (/^(NOAUTH|WRONGPASS)|invalid password|invalid username-password|AUTH failed/i.test(detail)) return { failure: "auth", detail };
  if (isTlsError(code, detail)) return { failure: "tls", detail };
  if (code === "ECONNRESET" || code === "EPIPE" || error.name === "MaxRetriesPerRequestError" || /Connection is closed|Stream isn't writeable/.test(detail)) {
    return { failure: "lost", detail };
  }
  return { failure: "other", detail };
}

function isTlsError(code: string, detail: string): boolean {
  return (
    /^(ERR_TLS_|ERR_SSL_|SELF_SIGNED_CERT|DEPTH_ZERO_SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|CERT_|ERR_OSSL)/.test(code) ||
    /certificate|SSL routines|TLS/i.test(detail)
  );
}

function describeRedisFailure(url: string, { failure, detail, waitedMs }: RedisFailureInfo): { summary: string; hint: string } {
  const why = detail ? ` (${detail})` : "";
  const tlsUrl = url.startsWith("rediss:");
  switch (failure) {
    case "refused":
      return { summary: `Redis at ${url} refused the connection`, hint: START_HINT };
    case "timeout":
      return {
        summary: `Redis at ${url} did not answer${waitedMs !== undefined ? ` within ${formatDuration(waitedMs)}` : ""}`,
        hint:
          `check that Redis${tlsUrl ? " with TLS" : ""} (not another service) listens there and is not paused, or set REDIS_URL / --redis-url; ` +
          "GATEWAY_CONNECT_TIMEOUT / --timeout waits longer for a distant one",
      };
    case "auth":
      return {
        summary: `Redis at ${url} refused the credentials${why}`,
        hint: "check the password in the URL: redis://[user:password@]host:port[/db] (REDIS_URL / --redis-url)",
      };
    case "tls":
      return {
        summary: `TLS with Redis at ${url} failed${why}`,
        hint: "set GATEWAY_REDIS_CA_FILE to the CA certificate of a private CA, or use redis:// if the server does not speak TLS",
      };
    case "not-found":
      return { summary: `Redis host of ${url} not found${why}`, hint: "check the host name in REDIS_URL / --redis-url" };
    case "lost":
      return {
        summary: `Redis at ${url} closed the connection${why}`,
        hint: `${START_HINT}${tlsUrl ? "" : " (a TLS-only server needs rediss://)"}`,
      };
    default:
      return { summary: `Redis at ${url} unreachable${why}`, hint: START_HINT };
  }
}
