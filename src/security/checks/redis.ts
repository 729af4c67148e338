/** How the gateway reaches Redis: encrypted or not, with a password or not. */
import { DEFAULT_BUS_OPTIONS } from "../../config/bus-options.js";
import { redactUrl } from "../../bus/connection.js";
import { isLoopbackHost } from "../../channels/http/server.js";
import type { Env, Finding } from "../types.js";
import { isTailscaleHost } from "./network.js";

export function checkRedis(env: Env): Finding[] {
  const raw = env.REDIS_URL?.trim() || DEFAULT_BUS_OPTIONS.redisUrl;
  const tls = { id: "redis-tls" as const, title: "Redis transport" };
  const auth = { id: "redis-auth" as const, title: "Redis authentication" };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return [
      {
        ...tls,
        status: "fail",
        detail: `REDIS_URL is not a valid URL (${redactUrl(raw)})`,
        fix: "use redis://[:password@]host[:port][/db] or rediss:// for TLS",
      },
    ];
  }
  const shown = redactUrl(raw);
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
    return [{ ...tls, status: "fail", detail: `REDIS_URL ${shown}: unknown scheme ${url.protocol}`, fix: "use redis:// or rediss:// (TLS)" }];
  }
  const host = url.hostname || "127.0.0.1";
  const loopback = isLoopbackHost(host);
  const tailscale = isTailscaleHost(host);
  const findings: Finding[] = [];
  if (loopback) {
    findings.push({ ...tls, status: "pass", detail: `${shown}: loopback, the traffic never leaves this machine` });
  } else if (url.protocol === "rediss:") {
    findings.push({ ...tls, status: "pass", detail: `${shown}: TLS${env.GATEWAY_REDIS_CA_FILE ? ` (CA ${env.GATEWAY_REDIS_CA_FILE})` : ""}` });
  } else if (tailscale) {
    findings.push({
      ...tls,
      status: "warn",
      detail: `${shown}: plain redis:// to a Tailscale address; WireGuard encrypts it in transit, but any tailnet device that reaches the port talks to Redis directly`,
      fix: "use rediss:// (TLS) or restrict the port with Tailscale ACLs to this machine",
    });
  } else {
    findings.push({
      ...tls,
      status: "fail",
      detail: `${shown}: plain redis:// to ${host}, beyond this machine: traffic including event payloads and the password travels in clear text`,
      fix: "use rediss:// (TLS; GATEWAY_REDIS_CA_FILE for a private CA), or reach Redis over Tailscale or an SSH tunnel (ssh -L 6379:127.0.0.1:6379 <redis-host>, then REDIS_URL=redis://127.0.0.1:6379)",
    });
  }
  if (loopback) {
    findings.push({ ...auth, status: "pass", detail: url.password ? "password set" : "no password, but loopback only" });
  } else if (!url.password) {
    findings.push({
      ...auth,
      status: "warn",
      detail: `${shown} has no password: whoever reaches ${host}:${url.port || "6379"} can read the queues and push events (which become prompts to your agent)`,
      fix: "set requirepass (or an ACL user) on the Redis server and put it in REDIS_URL: redis://:<password>@host or redis://<user>:<password>@host",
    });
  } else {
    findings.push({ ...auth, status: "pass", detail: `password set${url.username ? ` (user ${url.username})` : ""}` });
  }
  return findings;
}
