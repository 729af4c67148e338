/**
 * Who may talk to the daemon from a browser, checked before any route or WebSocket upgrade.
 *
 * - Host allow-list (DNS rebinding): a page on evil.example whose name is re-pointed at 127.0.0.1
 *   reaches a loopback daemon with `Host: evil.example`. On a loopback bind only loopback names
 *   (localhost, 127.x, ::1) and GATEWAY_ALLOWED_HOSTS are answered; on another bind the allow-list
 *   applies when one is given (the token is required there anyway).
 * - Origin (cross-site WebSocket hijacking): browsers send the page's Origin on a WebSocket
 *   handshake and no CORS rule protects it, so a page elsewhere holding a leaked token could drive
 *   the agent. Only the daemon's own origin (same host:port as the request) and
 *   GATEWAY_ALLOWED_ORIGINS may open it; clients that send no Origin (`pi-gateway chat`, scripts)
 *   are not browsers and pass.
 */
export interface RequestGuardOptions {
  /** The address the server listens on. */
  bindHost: string;
  /** Extra Host names answered (lower case, no port). */
  allowedHosts?: string[];
  /** Extra browser origins allowed to open the WebSocket (`scheme://host[:port]`). */
  allowedOrigins?: string[];
}

export interface RequestGuard {
  /** Why a request with this Host header is refused, or undefined when it is answered. */
  refuseHost(host: string | undefined): string | undefined;
  /** Why a WebSocket handshake with this Origin (and Host) is refused, or undefined. */
  refuseOrigin(origin: string | undefined, host: string | undefined): string | undefined;
}

export function createRequestGuard(options: RequestGuardOptions): RequestGuard {
  const allowedHosts = new Set((options.allowedHosts ?? []).map((h) => h.toLowerCase()));
  const allowedOrigins = new Set(options.allowedOrigins ?? []);
  const loopbackBind = isLoopbackHost(options.bindHost);
  return {
    refuseHost(host) {
      const name = host === undefined ? undefined : hostNameOf(host);
      if (name === undefined) return "missing or malformed Host header";
      if (allowedHosts.has(name)) return undefined;
      if (loopbackBind) return isLoopbackHost(name) ? undefined : `host "${name}" is not served here (set GATEWAY_ALLOWED_HOSTS to add it)`;
      return allowedHosts.size ? `host "${name}" is not in GATEWAY_ALLOWED_HOSTS` : undefined;
    },
    refuseOrigin(origin, host) {
      if (origin === undefined) return undefined;
      let parsed: URL;
      try {
        parsed = new URL(origin);
      } catch {
        return `origin "${origin.slice(0, 100)}" is not allowed`;
      }
      if (allowedOrigins.has(parsed.origin)) return undefined;
      const sameOrigin = host !== undefined && (parsed.protocol === "http:" || parsed.protocol === "https:") && parsed.host === host.toLowerCase();
      return sameOrigin ? undefined : `origin "${parsed.origin}" is not allowed (set GATEWAY_ALLOWED_ORIGINS to add it)`;
    },
  };
}

/** `Host` without its port, lower case; undefined for a value no client sends. */
export function hostNameOf(host: string): string | undefined {
  const value = host.trim().toLowerCase();
  const match = /^(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(:\d{1,5})?$/.exec(value);
  return match?.[1];
}

/** localhost, 127.0.0.0/8 and ::1 (also IPv4-mapped), with or without brackets. */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, "");
  if (h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
  const v4 = h.startsWith("::ffff:") ? h.slice(7) : h;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}
