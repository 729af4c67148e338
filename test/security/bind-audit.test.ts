/**
 * `pi-gateway security audit` reads the same resolved configuration the daemon binds with: for
 * GATEWAY_HOST "", unset, 127.0.0.1, localhost, 0.0.0.0 and ::, the real daemon (pi SDK, fake LLM)
 * is started, the socket it actually opened is read from the kernel (/proc/net/tcp*), and the
 * audit run with the same environment must call it loopback exactly when the socket is.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { describe, test } from "node:test";
import { runCli } from "../helpers/cli.js";
import { usePiSuite } from "../helpers/pi-suite.js";

const TOKEN = "bind-audit-test-token-0123456789abcdefABCDEF";

interface Listener {
  address: string;
  loopback: boolean;
}

/** The listening sockets on `port`, from the kernel's tables (Linux). */
function listenersOn(port: number): Listener[] {
  const found: Listener[] = [];
  for (const [file, v6] of [
    ["/proc/net/tcp", false],
    ["/proc/net/tcp6", true],
  ] as const) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue; // no IPv6 table on this machine
    }
    for (const line of text.split("\n").slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (state !== "0A" || !local) continue; // 0A: LISTEN
      const [hexAddress, hexPort] = local.split(":");
      if (Number.parseInt(hexPort!, 16) !== port) continue;
      found.push(v6 ? decodeV6(hexAddress!) : decodeV4(hexAddress!));
    }
  }
  return found;
}

/** /proc/net/tcp addresses are little-endian 32-bit words. */
function decodeV4(hex: string): Listener {
  const bytes = hex
    .match(/../g)!
    .map((b) => Number.parseInt(b, 16))
    .reverse();
  return { address: bytes.join("."), loopback: bytes[0] === 127 };
}

function decodeV6(hex: string): Listener {
  const words = hex.match(/.{8}/g)!.map((w) => w.match(/../g)!.reverse().join(""));
  const full = words.join("");
  const groups = full.match(/.{4}/g)!.map((g) => g.replace(/^0+(?=.)/, ""));
  const address = groups.join(":");
  const mappedV4 = full.startsWith("00000000000000000000ffff") ? decodeV4(hex.slice(24)) : undefined;
  const loopback = full === "00000000000000000000000000000001" || (mappedV4?.loopback ?? false);
  return { address, loopback };
}

async function freePort(host = "127.0.0.1"): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, host, resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function ipv6Available(): Promise<boolean> {
  try {
    await freePort("::");
    return true;
  } catch {
    return false;
  }
}

const suite = usePiSuite({ token: TOKEN, end: "kill" });

describe("bind vs audit: the audit agrees with the socket the daemon opened", () => {
  const cases: Array<[string, string | undefined]> = [
    ['GATEWAY_HOST=""', ""],
    ["GATEWAY_HOST unset", undefined],
    ["GATEWAY_HOST=127.0.0.1", "127.0.0.1"],
    ["GATEWAY_HOST=localhost", "localhost"],
    ["GATEWAY_HOST=0.0.0.0", "0.0.0.0"],
    ["GATEWAY_HOST=::", "::"],
  ];
  for (const [title, host] of cases) {
    test(title, async (t) => {
      if (host === "::" && !(await ipv6Available())) {
        t.skip("IPv6 is not available on this machine: :: cannot be bound");
        console.log("SKIPPED GATEWAY_HOST=:: (no IPv6 on this machine)");
        return;
      }
      const port = await freePort();
      const env = suite.env({ GATEWAY_PORT: String(port), ...(host === undefined ? {} : { GATEWAY_HOST: host }) });
      if (host === undefined) delete env.GATEWAY_HOST;
      // The daemon gets the same env (the launcher's own --port 0 is overridden by the same port).
      const daemon = await suite.daemon(host === undefined ? {} : { GATEWAY_HOST: host }, ["--port", String(port)]);
      const sockets = listenersOn(port);
      assert.ok(sockets.length > 0, `the daemon listens on port ${port}: ${daemon.output()}`);
      const loopback = sockets.every((s) => s.loopback);
      assert.equal(
        sockets.some((s) => s.loopback),
        loopback,
        `one kind of socket: ${JSON.stringify(sockets)}`,
      );

      const audit = await runCli(["security", "audit", "--json"], { env });
      const report = JSON.parse(audit.stdout) as { findings: Array<{ id: string; status: string; detail: string }> };
      const bind = report.findings.find((f) => f.id === "bind-vs-auth")!;
      assert.match(bind.detail, new RegExp(`:${port}\\b`), `the audit names the daemon's port: ${bind.detail}`);
      const auditSaysLoopback = bind.status === "pass" && /\(loopback\)/.test(bind.detail);
      assert.equal(auditSaysLoopback, loopback, `${title}: kernel sockets ${JSON.stringify(sockets)}, audit: ${bind.status} ${bind.detail}`);
      if (!loopback) assert.equal(bind.status, "warn", "exposed with a token: a warning");
      console.log(`FIGURE bind-audit ${title}: socket ${sockets.map((s) => s.address).join(", ")} → audit ${bind.status}`);
    });
  }
});
