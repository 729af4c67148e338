/**
 * The daemon's network edges (issue #17 item 7): Host allow-list against DNS rebinding, Origin
 * check on the WebSocket handshake, and at most N webhook bodies read before their signature is
 * checked. Over a real HTTP server and raw sockets, with the headers a hostile page would send.
 */
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import { Hono } from "hono";
import { createHttpApp } from "../../../src/channels/http/app.js";
import { checkSetting, parseSetting } from "../../../src/config/resolve.js";
import { createRequestGuard, hostNameOf } from "../../../src/channels/http/request-guard.js";
import { startHttpServer, type RunningHttpServer, type UpgradeHandler } from "../../../src/channels/http/server.js";
import type { InboundMessage } from "../../../src/daemon/types.js";

describe("request guard: Host", () => {
  const loopback = createRequestGuard({ bindHost: "127.0.0.1", allowedHosts: ["gw.tailnet.ts.net"] });
  test("a loopback bind answers loopback names with any port, and the allowed ones", () => {
    for (const host of ["localhost", "127.0.0.1:8787", "LOCALHOST:1", "[::1]:8787", "127.1.2.3", "gw.tailnet.ts.net:443"]) {
      assert.equal(loopback.refuseHost(host), undefined, host);
    }
  });
  test("a loopback bind refuses other names, missing and malformed Host headers", () => {
    for (const host of ["evil.example", "evil.example:8787", "127.0.0.1.evil.example", "gw.tailnet.ts.net.evil", "", " ", "a b", "x:y:z", "host:99999999"]) {
      assert.ok(loopback.refuseHost(host), `should refuse ${JSON.stringify(host)}`);
    }
    assert.match(loopback.refuseHost(undefined) ?? "", /missing or malformed Host/);
    assert.match(loopback.refuseHost("evil.example") ?? "", /GATEWAY_ALLOWED_HOSTS/);
  });
  test("another bind answers any name unless an allow-list is given", () => {
    assert.equal(createRequestGuard({ bindHost: "0.0.0.0" }).refuseHost("anything.example"), undefined);
    const listed = createRequestGuard({ bindHost: "0.0.0.0", allowedHosts: ["gw.example"] });
    assert.equal(listed.refuseHost("gw.example:8787"), undefined);
    assert.ok(listed.refuseHost("other.example"));
  });
  test("hostNameOf strips the port and lower-cases", () => {
    assert.equal(hostNameOf("Example.COM:80"), "example.com");
    assert.equal(hostNameOf("[::1]:80"), "[::1]");
    assert.equal(hostNameOf("bad host"), undefined);
  });
});

describe("request guard: Origin", () => {
  const guard = createRequestGuard({ bindHost: "127.0.0.1", allowedOrigins: ["https://gw.example"] });
  test("no Origin (not a browser), the page's own origin and allowed origins pass", () => {
    assert.equal(guard.refuseOrigin(undefined, "127.0.0.1:8787"), undefined);
    assert.equal(guard.refuseOrigin("http://127.0.0.1:8787", "127.0.0.1:8787"), undefined);
    assert.equal(guard.refuseOrigin("https://gw.example", "127.0.0.1:8787"), undefined);
  });
  test("other origins, other ports, opaque and malformed origins are refused", () => {
    for (const origin of ["http://evil.example", "http://127.0.0.1:9999", "null", "file://", "javascript:alert(1)", "not a url", "https://gw.example.evil"]) {
      assert.ok(guard.refuseOrigin(origin, "127.0.0.1:8787"), `should refuse ${origin}`);
    }
    assert.match(guard.refuseOrigin("http://evil.example", "127.0.0.1:8787") ?? "", /GATEWAY_ALLOWED_ORIGINS/);
  });
});

/** A raw HTTP/1.1 exchange, so Host and Origin are exactly what a hostile page's browser sends. */
function raw(port: number, lines: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(`${lines.join("\r\n")}\r\n\r\n`));
    let text = "";
    socket.on("data", (chunk) => {
      text += chunk.toString("utf8");
    });
    socket.on("end", () => resolve(text));
    socket.on("error", reject);
    setTimeout(() => {
      socket.destroy();
      resolve(text);
    }, 2_000).unref();
  });
}

describe("over a real server", () => {
  let server: RunningHttpServer;
  const upgrades: string[] = [];
  before(async () => {
    const app = new Hono();
    app.get("/healthz", (c) => c.json({ ok: true }));
    const websocket: UpgradeHandler = {
      handleUpgrade: (req, socket) => {
        upgrades.push(req.headers.origin ?? "(none)");
        socket.end("HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      },
    };
    server = await startHttpServer({ app, websocket, port: 0, allowedOrigins: ["https://gw.example"] });
  });
  after(() => server.close());

  test("a rebinding page's Host gets 403 FORBIDDEN_HOST; loopback names are served", async () => {
    const refused = await raw(server.port, ["GET /healthz HTTP/1.1", "Host: evil.example:8787", "Connection: close"]);
    assert.match(refused, /^HTTP\/1\.1 403/);
    assert.match(refused, /FORBIDDEN_HOST/);
    const served = await raw(server.port, ["GET /healthz HTTP/1.1", `Host: localhost:${server.port}`, "Connection: close"]);
    assert.match(served, /^HTTP\/1\.1 200/);
  });

  test("a WebSocket handshake from another origin is refused before the channel sees it", async () => {
    const handshake = (origin?: string) => [
      "GET /ws HTTP/1.1",
      `Host: 127.0.0.1:${server.port}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      "Sec-WebSocket-Version: 13",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      ...(origin ? [`Origin: ${origin}`] : []),
    ];
    upgrades.length = 0;
    const evil = await raw(server.port, handshake("http://evil.example"));
    assert.match(evil, /^HTTP\/1\.1 403/);
    assert.match(evil, /FORBIDDEN_ORIGIN/);
    const rebound = await raw(server.port, [...handshake().slice(0, 1), "Host: evil.example", ...handshake().slice(2)]);
    assert.match(rebound, /^HTTP\/1\.1 403[^]*FORBIDDEN_HOST/);
    assert.deepEqual(upgrades, [], "refused handshakes never reach the channel");
    await raw(server.port, handshake(`http://127.0.0.1:${server.port}`));
    await raw(server.port, handshake("https://gw.example"));
    await raw(server.port, handshake());
    assert.deepEqual(upgrades, [`http://127.0.0.1:${server.port}`, "https://gw.example", "(none)"]);
  });
});

describe("webhook bodies read at once are capped", () => {
  let server: RunningHttpServer;
  const submitted: InboundMessage[] = [];
  before(async () => {
    const app = createHttpApp({
      commands: { submit: async (message) => (submitted.push(message), { status: "queued", requestId: message.id }) },
      hooks: { github: { secret: "s3cret" } },
      hookConcurrency: 2,
    });
    server = await startHttpServer({ app, port: 0 });
  });
  after(() => server.close());

  /** Starts a webhook POST whose body never finishes (a slow sender); resolves when the server has the headers. */
  function slowBody(): { done: Promise<number>; finish: () => void } {
    let finish = () => undefined as void;
    const done = new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        {
          port: server.port,
          host: "127.0.0.1",
          method: "POST",
          path: "/hooks/github",
          headers: { "content-type": "application/json", "content-length": "100" },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.write("{");
      finish = () => req.end("x".repeat(99));
    });
    return { done, finish };
  }

  test("past the cap a webhook gets 503 BUSY with Retry-After at once; a freed slot is taken again", async () => {
    const slow = [slowBody(), slowBody()];
    await new Promise((resolve) => setTimeout(resolve, 300));
    const busy = await fetch(`${server.url}/hooks/github`, { method: "POST", body: "{}", headers: { "content-type": "application/json" } });
    assert.equal(busy.status, 503);
    assert.equal(busy.headers.get("retry-after"), "1");
    assert.equal(((await busy.json()) as { code: string }).code, "BUSY");
    for (const s of slow) s.finish();
    assert.deepEqual(await Promise.all(slow.map((s) => s.done)), [401, 401], "the slow ones are read, then refused for their missing signature");
    const after = await fetch(`${server.url}/hooks/github`, { method: "POST", body: "{}", headers: { "content-type": "application/json" } });
    assert.equal(after.status, 401, "slots are free again");
    assert.equal(submitted.length, 0);
  });
});

describe("the settings at their edges", () => {
  test("GATEWAY_ALLOWED_HOSTS: names only, lower-cased; a scheme, port, path or space is refused naming the variable", () => {
    assert.equal(parseSetting("GATEWAY_ALLOWED_HOSTS", undefined), undefined);
    assert.equal(parseSetting("GATEWAY_ALLOWED_HOSTS", "  "), undefined);
    assert.deepEqual(parseSetting("GATEWAY_ALLOWED_HOSTS", "GW.Tailnet.ts.net, [::1] ,"), ["gw.tailnet.ts.net", "[::1]"]);
    for (const bad of ["https://gw.example", "gw.example:443", "gw.example/path", "a b", "<script>"]) {
      assert.match(checkSetting("GATEWAY_ALLOWED_HOSTS", bad).problem ?? "", /GATEWAY_ALLOWED_HOSTS.*is not a host name/, bad);
    }
  });
  test("GATEWAY_ALLOWED_ORIGINS: exact origins; a path, a bare host, another scheme or `null` is refused", () => {
    assert.deepEqual(parseSetting("GATEWAY_ALLOWED_ORIGINS", "https://gw.example, http://localhost:5173/"), ["https://gw.example", "http://localhost:5173"]);
    for (const bad of ["gw.example", "https://gw.example/app", "ftp://gw.example", "null", "*", "https://"]) {
      assert.match(checkSetting("GATEWAY_ALLOWED_ORIGINS", bad).problem ?? "", /GATEWAY_ALLOWED_ORIGINS.*is not an origin/, bad);
    }
  });
  test("the caps: whole numbers from 1; 0, negative, fractions and words are refused", () => {
    for (const name of ["GATEWAY_PROMPTS_PER_CLIENT", "GATEWAY_PROMPTS_PER_CHANNEL", "GATEWAY_HOOK_CONCURRENCY"] as const) {
      assert.ok(parseSetting(name, undefined) >= 1);
      assert.equal(parseSetting(name, "3"), 3);
      for (const bad of ["0", "-1", "1.5", "many"]) assert.match(checkSetting(name, bad).problem ?? "", new RegExp(name), `${name}=${bad}`);
    }
  });
});
