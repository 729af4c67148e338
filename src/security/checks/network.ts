/** Which networks reach the gateway's HTTP/WebSocket listener, weighed against its token. */
import { isLoopbackHost } from "../../channels/http/server.js";
import { listenAddress } from "../../daemon/config.js";
import { shellQuote } from "../../util/shell.js";
import type { Env, Finding } from "../types.js";
import type { TokenState } from "./token.js";

/** 100.64.0.0/10 (Tailscale's CGNAT range), fd7a:115c:a1e0::/48 and MagicDNS names (*.ts.net). */
export function isTailscaleHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, "")
    .replace(/\.$/, "");
  if (h.endsWith(".ts.net")) return true;
  if (h.startsWith("fd7a:115c:a1e0:")) return true;
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  if (!m) return false;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a === 100 && b >= 64 && b <= 127;
}

function isWildcardHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, "");
  return h === "0.0.0.0" || h === "::" || h === "0:0:0:0:0:0:0:0" || h === "";
}

export function checkBind(env: Env, token: TokenState): Finding {
  const base = { id: "bind-vs-auth" as const, title: "Network exposure" };
  // The daemon's own rule, so the audit reports the socket the daemon really opens.
  let host: string;
  let port: string;
  try {
    const address = listenAddress(env);
    host = address.host;
    port = String(address.port);
  } catch (error) {
    return {
      ...base,
      status: "fail",
      detail: `${(error as Error).message}: the daemon refuses to start`,
      fix: "correct it as the message says, or leave it empty for the default (127.0.0.1:8787)",
    };
  }
  if (isLoopbackHost(host)) {
    return { ...base, status: "pass", detail: `listens on ${host}:${port} (loopback): reachable from this machine only` };
  }
  const where = isWildcardHost(host)
    ? `listens on ${host}:${port}, i.e. on every network interface: reachable from any network this machine joins (café Wi-Fi included)`
    : isTailscaleHost(host)
      ? `listens on ${host}:${port}, a Tailscale address: reachable from your tailnet`
      : `listens on ${host}:${port}: reachable beyond this machine`;
  const stayLocal = "keep GATEWAY_HOST=127.0.0.1 and reach it through an SSH tunnel (ssh -L 8787:127.0.0.1:8787 this-host)";
  if (!token.value) {
    return {
      ...base,
      status: "fail",
      detail: `${where}, and no gateway token exists yet (GATEWAY_TOKEN unset, ${token.source} ${token.problem ?? "missing"}); the HTTP server refuses to listen beyond loopback without one`,
      fix: `create the token before exposing the gateway: (umask 077; openssl rand -base64 32 > ${shellQuote(token.source)}), or ${stayLocal}`,
    };
  }
  if (isTailscaleHost(host)) {
    return { ...base, status: "pass", detail: `${where} only (WireGuard-encrypted), token required` };
  }
  return {
    ...base,
    status: "warn",
    detail: `${where}; the token is required, but it and every message cross the network as plain HTTP`,
    fix: `bind a Tailscale address instead (GATEWAY_HOST=$(tailscale ip -4)), or ${stayLocal}`,
  };
}
