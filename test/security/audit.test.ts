import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import { estimateTokenBits, runAudit, tokenWeaknesses, type AuditFiles, type AuditInput, type Finding } from "../../src/security/audit.js";
import { listenAddress } from "../../src/daemon/config.js";
import { runCli } from "../helpers/cli.js";

// ------------------------------------------------------------------------------ a fake home

interface FakeEntry {
  mode: number;
  uid?: number;
  content?: string;
  dir?: boolean;
}

const UID = 1000;
const HOME = "/home/u";
const CONFIG = `${HOME}/.config/pi-gateway`;
const ENV_FILE = `${CONFIG}/gateway.env`;
const TOKEN_FILE = `${CONFIG}/token`;
const STRONG = randomBytes(32).toString("base64url");
const HOOK_SECRET = randomBytes(24).toString("hex");

function fakeFiles(entries: Record<string, FakeEntry>): AuditFiles {
  return {
    stat: (path) => {
      const e = entries[path];
      return e ? { mode: e.mode, uid: e.uid ?? UID, isDirectory: Boolean(e.dir) } : undefined;
    },
    read: (path) => entries[path]?.content,
    list: (dir) =>
      Object.keys(entries)
        .filter((p) => dirname(p) === dir)
        .map((p) => p.slice(dir.length + 1)),
  };
}

const envText = (values: Record<string, string>) =>
  Object.entries(values)
    .map(([k, v]) => `${k}=${v}`)
    .join("\n") + "\n";

/** A well set-up home: everything 600/700, TLS Redis with a password, Telegram allowlisted, HMAC hooks. */
function secureEntries(): Record<string, FakeEntry> {
  return {
    [CONFIG]: { mode: 0o700, dir: true },
    [ENV_FILE]: {
      mode: 0o600,
      content: envText({
        REDIS_URL: "rediss://:s3cretRedisPass@redis.example.com:6380",
        TELEGRAM_BOT_TOKEN: "123456:AAbbCCdd",
        TELEGRAM_ALLOWED_USERS: "4242",
        GATEWAY_HOOKS: `'${JSON.stringify({ github: { secret: HOOK_SECRET } })}'`,
      }),
    },
    [TOKEN_FILE]: { mode: 0o600, content: `${STRONG}\n` },
    [`${HOME}/.config/systemd/user/dev.pi-gateway.agent.service`]: {
      mode: 0o600,
      content: `[Service]\nEnvironment="GATEWAY_TOKEN=${STRONG}"\nEnvironment=PATH=/usr/bin\n`,
    },
    [`${HOME}/.config/systemd/user/dev.pi-gateway.heartbeat.service`]: {
      mode: 0o644,
      content: "[Service]\nEnvironment=PATH=/usr/bin\nEnvironment=GATEWAY_TOKEN_FILE=/home/u/.config/pi-gateway/token\n",
    },
    [`${HOME}/.config/systemd/user/other.service`]: { mode: 0o644, content: "Environment=GATEWAY_TOKEN=whatever" },
  };
}

function audit(entries: Record<string, FakeEntry>, env: Record<string, string | undefined> = {}, extra: Partial<AuditInput> = {}): Finding[] {
  return runAudit({ env, home: HOME, files: fakeFiles(entries), uid: UID, ...extra });
}

const one = (findings: Finding[], id: string, path?: string): Finding => {
  const matches = findings.filter((f) => f.id === id && (path === undefined || f.path === path));
  assert.equal(matches.length, 1, `expected one ${id} finding${path ? ` for ${path}` : ""}, got ${JSON.stringify(matches)}`);
  return matches[0]!;
};

// ------------------------------------------------------------------------------ unit tests

describe("security audit: checks", () => {
  test("a secure configuration: everything passes or is skipped, and no secret is printed", () => {
    const findings = audit(secureEntries());
    const bad = findings.filter((f) => f.status === "fail" || f.status === "warn");
    assert.deepEqual(bad, []);
    const ids = new Set(findings.map((f) => f.id));
    for (const id of ["bind-vs-auth", "token-strength", "file-permissions", "telegram-allowlist", "redis-tls", "redis-auth", "webhooks"] as const)
      assert.ok(ids.has(id), id);
    assert.equal(one(findings, "telegram-allowlist").status, "pass");
    assert.equal(one(findings, "redis-tls").status, "pass");
    assert.equal(one(findings, "webhooks").status, "pass");
    assert.match(one(findings, "token-strength").detail, /43 characters, about \d+ bits estimated/);
    // Service files of other programs are not looked at; a unit without secrets may be 644.
    assert.ok(!findings.some((f) => f.path?.endsWith("other.service")));
    assert.equal(one(findings, "file-permissions", `${HOME}/.config/systemd/user/dev.pi-gateway.heartbeat.service`).status, "pass");
    const text = JSON.stringify(findings);
    for (const secret of [STRONG, HOOK_SECRET, "s3cretRedisPass", "AAbbCCdd"]) assert.ok(!text.includes(secret), `leaked ${secret}`);
  });

  test("an empty home: the defaults are safe; the missing token is a warning (created on first start)", () => {
    const findings = audit({});
    assert.equal(one(findings, "bind-vs-auth").status, "pass");
    const token = one(findings, "token-strength");
    assert.equal(token.status, "warn");
    assert.match(token.detail, /created .* on first start of the daemon/);
    assert.equal(one(findings, "file-permissions").status, "skip");
    assert.equal(one(findings, "telegram-allowlist").status, "skip");
    assert.equal(one(findings, "webhooks").status, "skip");
    assert.equal(one(findings, "redis-tls").status, "pass");
    assert.equal(one(findings, "redis-auth").status, "pass");
  });

  describe("bind-vs-auth", () => {
    test("0.0.0.0 without any token: fail, with 0.0.0.0 called out", () => {
      const f = one(audit({}, { GATEWAY_HOST: "0.0.0.0" }), "bind-vs-auth");
      assert.equal(f.status, "fail");
      assert.match(f.detail, /0\.0\.0\.0:8787, i\.e\. on every network interface/);
      assert.match(f.detail, /no gateway token exists yet/);
      assert.match(f.fix!, /openssl rand/);
    });

    test("the audit reports the socket the daemon opens: empty, blank and unset GATEWAY_HOST/PORT are loopback:8787 for both; a bad port fails both", () => {
      for (const env of [{}, { GATEWAY_HOST: "" }, { GATEWAY_HOST: "   " }, { GATEWAY_HOST: "", GATEWAY_PORT: "" }]) {
        const address = listenAddress(env);
        assert.deepEqual(address, { host: "127.0.0.1", port: 8787 }, JSON.stringify(env));
        const f = one(audit(secureEntries(), env), "bind-vs-auth");
        assert.equal(f.status, "pass", JSON.stringify(env));
        assert.match(f.detail, /listens on 127\.0\.0\.1:8787 \(loopback\)/);
      }
      assert.deepEqual(listenAddress({ GATEWAY_HOST: "0.0.0.0", GATEWAY_PORT: "9000" }), { host: "0.0.0.0", port: 9000 });
      for (const port of ["abc", "-1", "70000", "80.5"]) {
        assert.throws(() => listenAddress({ GATEWAY_PORT: port }), /GATEWAY_PORT=".*" is not a port/);
        assert.equal(one(audit(secureEntries(), { GATEWAY_PORT: port }), "bind-vs-auth").status, "fail");
      }
    });

    test(":: with a token: warn, suggesting Tailscale or loopback + SSH tunnel", () => {
      const f = one(audit(secureEntries(), { GATEWAY_HOST: "::" }), "bind-vs-auth");
      assert.equal(f.status, "warn");
      assert.match(f.detail, /listens on :::8787, i\.e\. on every network interface/);
      assert.match(f.fix!, /Tailscale/);
      assert.match(f.fix!, /SSH tunnel \(ssh -L 8787:127\.0\.0\.1:8787/);
    });

    test("a LAN address with a token: warn (exposed beyond this machine)", () => {
      const f = one(audit(secureEntries(), { GATEWAY_HOST: "192.168.1.20", GATEWAY_PORT: "9000" }), "bind-vs-auth");
      assert.equal(f.status, "warn");
      assert.match(f.detail, /192\.168\.1\.20:9000: reachable beyond this machine/);
    });

    test("a Tailscale address with a token passes; loopback variants pass", () => {
      assert.equal(one(audit(secureEntries(), { GATEWAY_HOST: "100.101.102.103" }), "bind-vs-auth").status, "pass");
      for (const host of ["127.0.0.1", "localhost", "::1", "[::1]"]) {
        assert.equal(one(audit({}, { GATEWAY_HOST: host }), "bind-vs-auth").status, "pass", host);
      }
    });
  });

  describe("token-strength", () => {
    const tokenFinding = (token: string) => one(audit({}, { GATEWAY_TOKEN: token }), "token-strength");

    test("weak tokens fail, with the reason, without the token", () => {
      const cases: Array<[string, RegExp]> = [
        ["Xy7#kL2q", /shorter than 24 characters/],
        ["a".repeat(40), /a single repeated character/],
        ["my-password-is-long-enough-2024", /guessable word \("password"\)/],
        ["changeme-changeme-changeme", /guessable word \("changeme"\)/],
        ["abcdefghijklmnopqrstuvwxyz", /consecutive characters/],
        ["Ab3$Ab3$Ab3$Ab3$Ab3$Ab3$Ab3$", /only 4 distinct characters/],
        ["k9Pq2Lm8k9Pq2Lm8k9Pq2Lm8k9Pq2Lm8", /a repeated pattern/],
        ["839201847561029384756102938", /fewer than 100 bits/],
      ];
      for (const [token, reason] of cases) {
        const f = tokenFinding(token);
        assert.equal(f.status, "fail", token);
        assert.match(f.detail, reason, token);
        assert.match(f.detail, new RegExp(`^GATEWAY_TOKEN: ${[...token].length} characters, about \\d+ bits estimated`));
        assert.match(f.fix!, /openssl rand -base64 32/);
        assert.ok(!JSON.stringify(f).includes(token), `leaked ${token}`);
      }
    });

    test("random tokens pass: base64url (the daemon's own), hex of 16 bytes and more", () => {
      for (const token of [STRONG, randomBytes(16).toString("hex"), randomBytes(24).toString("base64")]) {
        const f = tokenFinding(token);
        assert.equal(f.status, "pass", `${token}: ${f.detail}`);
        assert.ok(!f.detail.includes(token));
      }
      assert.equal(estimateTokenBits(randomBytes(16).toString("hex")), 128);
      assert.ok(estimateTokenBits(STRONG) >= 256);
      assert.deepEqual(tokenWeaknesses(STRONG), []);
    });

    test("the token file is read when GATEWAY_TOKEN is unset; an empty file fails", () => {
      const weak = one(audit({ [TOKEN_FILE]: { mode: 0o600, content: "secret\n" } }), "token-strength");
      assert.equal(weak.status, "fail");
      assert.match(weak.detail, new RegExp(`^token file ${TOKEN_FILE}: 6 characters`));
      const empty = one(audit({ [TOKEN_FILE]: { mode: 0o600, content: "\n" } }), "token-strength");
      assert.equal(empty.status, "fail");
      assert.match(empty.detail, /is empty: the daemon refuses to start/);
      // GATEWAY_TOKEN_FILE moves it.
      const moved = one(audit({ "/etc/gw-token": { mode: 0o600, content: STRONG } }, { GATEWAY_TOKEN_FILE: "/etc/gw-token" }), "token-strength");
      assert.equal(moved.status, "pass");
      assert.match(moved.detail, /token file \/etc\/gw-token/);
    });
  });

  describe("file-permissions", () => {
    test("gateway.env readable by others while holding a token: fail with chmod 600", () => {
      const entries = secureEntries();
      entries[ENV_FILE] = { mode: 0o644, content: envText({ GATEWAY_TOKEN: STRONG, REDIS_URL: "redis://:pw123456@127.0.0.1:6379" }) };
      const f = one(audit(entries), "file-permissions", ENV_FILE);
      assert.equal(f.status, "fail");
      assert.match(f.detail, /mode 644: readable by group and others; holds GATEWAY_TOKEN, REDIS_URL \(password in URL\)/);
      assert.equal(f.fix, `chmod 600 ${ENV_FILE}`);
      assert.ok(!JSON.stringify(f).includes(STRONG));
      assert.ok(!JSON.stringify(f).includes("pw123456"));
    });

    test("gateway.env without secrets but world-readable: warn; group/other-writable: fail", () => {
      const entries = secureEntries();
      entries[ENV_FILE] = { mode: 0o644, content: envText({ GATEWAY_HEARTBEAT_INTERVAL: "15m" }) };
      const readable = one(audit(entries), "file-permissions", ENV_FILE);
      assert.equal(readable.status, "warn");
      assert.match(readable.detail, /holds no secrets, but it is where secrets go/);
      entries[ENV_FILE] = { mode: 0o620, content: envText({ GATEWAY_HEARTBEAT_INTERVAL: "15m" }) };
      const writable = one(audit(entries), "file-permissions", ENV_FILE);
      assert.equal(writable.status, "fail");
      assert.match(writable.detail, /writable by group/);
      assert.equal(writable.fix, `chmod 600 ${ENV_FILE}`);
    });

    test("the token file must be 600", () => {
      const entries = secureEntries();
      entries[TOKEN_FILE] = { mode: 0o640, content: STRONG };
      const f = one(audit(entries), "file-permissions", TOKEN_FILE);
      assert.equal(f.status, "fail");
      assert.match(f.detail, /mode 640: readable by group/);
      assert.equal(f.fix, `chmod 600 ${TOKEN_FILE}`);
    });

    test("service files holding secrets must be 600 (launchd and systemd); those without secrets may be 644", () => {
      const plist = `${HOME}/Library/LaunchAgents/dev.pi-gateway.agent.plist`;
      const unit = `${HOME}/.config/systemd/user/dev.pi-gateway.agent.service`;
      const entries: Record<string, FakeEntry> = {
        [plist]: {
          mode: 0o644,
          content: `<plist><dict><key>EnvironmentVariables</key><dict><key>TELEGRAM_BOT_TOKEN</key><string>1:abc</string><key>PATH</key><string>/bin</string></dict></dict></plist>`,
        },
        [unit]: { mode: 0o644, content: `[Service]\nEnvironment="REDIS_URL=redis://:hunter2x@10.1.1.1:6379" PATH=/bin\n` },
        [`${HOME}/Library/LaunchAgents/dev.pi-gateway.heartbeat.plist`]: {
          mode: 0o644,
          content: `<plist><dict><key>PATH</key><string>/bin</string></dict></plist>`,
        },
      };
      const findings = audit(entries);
      const p = one(findings, "file-permissions", plist);
      assert.equal(p.status, "fail");
      assert.match(p.detail, /holds TELEGRAM_BOT_TOKEN/);
      assert.equal(p.fix, `chmod 600 ${plist}`);
      const u = one(findings, "file-permissions", unit);
      assert.equal(u.status, "fail");
      assert.match(u.detail, /holds REDIS_URL \(password in URL\)/);
      assert.equal(one(findings, "file-permissions", `${HOME}/Library/LaunchAgents/dev.pi-gateway.heartbeat.plist`).status, "pass");
      assert.ok(!JSON.stringify(findings).includes("hunter2x"));
    });

    test("the config dir should be 700 (warn); files owned by someone else: warn", () => {
      const entries = secureEntries();
      entries[CONFIG] = { mode: 0o755, dir: true };
      entries[TOKEN_FILE] = { mode: 0o600, uid: 0, content: STRONG };
      const findings = audit(entries);
      const dir = one(findings, "file-permissions", CONFIG);
      assert.equal(dir.status, "warn");
      assert.match(dir.detail, /mode 755: group and others can list its files/);
      assert.equal(dir.fix, `chmod 700 ${CONFIG}`);
      const owner = one(findings, "file-permissions", TOKEN_FILE);
      assert.equal(owner.status, "warn");
      assert.match(owner.detail, /owned by uid 0, not by you \(uid 1000\)/);
      assert.match(owner.fix!, /chown/);
      // Without a known uid, ownership is not judged.
      assert.equal(one(audit(entries, {}, { uid: undefined }), "file-permissions", TOKEN_FILE).status, "pass");
    });
  });

  describe("telegram-allowlist", () => {
    test("a bot token without an allowlist: pairing (the default) warns with how to approve; with TELEGRAM_PAIRING=0 it fails", () => {
      const paired = one(audit({}, { TELEGRAM_BOT_TOKEN: "1:abc" }), "telegram-allowlist");
      assert.equal(paired.status, "warn", "the daemon answers strangers with a pairing code only: not the useless fail-closed bot");
      assert.match(paired.detail, /gets a one-time pairing code and nothing else; nothing reaches the agent until you approve/);
      assert.match(paired.fix!, /pi-gateway pair approve <code>/);
      const bad = one(audit({}, { TELEGRAM_BOT_TOKEN: "1:abc", TELEGRAM_PAIRING: "maybe" }), "telegram-allowlist");
      assert.equal(bad.status, "fail");
      assert.match(bad.detail, /TELEGRAM_PAIRING/);
      assert.match(one(audit({}, { TELEGRAM_BOT_TOKEN: "1:abc", TELEGRAM_ALLOWED_USERS: "42" }), "telegram-allowlist").detail, /pairing codes for others/);
      const f = one(audit({}, { TELEGRAM_BOT_TOKEN: "1:abc", TELEGRAM_PAIRING: "0" }), "telegram-allowlist");
      assert.equal(f.status, "fail");
      assert.match(f.detail, /fails closed and answers nobody, so the bot is useless/);
      assert.match(f.detail, /anyone who finds the bot could talk to your agent/);
      assert.match(f.fix!, /TELEGRAM_ALLOWED_USERS=<your numeric user id>/);
      assert.ok(!JSON.stringify(f).includes("1:abc"));
    });

    test("allowlisted users or chats pass; group chats warn; non-numeric ids fail; no bot token skips", () => {
      assert.equal(one(audit({}, { TELEGRAM_BOT_TOKEN: "1:abc", TELEGRAM_ALLOWED_USERS: "42, 43" }), "telegram-allowlist").status, "pass");
      assert.equal(one(audit({}, { TELEGRAM_BOT_TOKEN: "1:abc", TELEGRAM_ALLOWED_CHATS: "42" }), "telegram-allowlist").status, "pass");
      const group = one(audit({}, { TELEGRAM_BOT_TOKEN: "1:abc", TELEGRAM_ALLOWED_CHATS: "-100123" }), "telegram-allowlist");
      assert.equal(group.status, "warn");
      assert.match(group.detail, /every member/);
      const bad = one(audit({}, { TELEGRAM_BOT_TOKEN: "1:abc", TELEGRAM_ALLOWED_USERS: "@me" }), "telegram-allowlist");
      assert.equal(bad.status, "fail");
      assert.match(
        bad.detail,
        /^TELEGRAM_ALLOWED_USERS="@me" has "@me", which is not a numeric Telegram id \(expected numeric user ids separated by commas\): the daemon refuses to start$/,
      );
      assert.equal(one(audit({}, { TELEGRAM_ALLOWED_USERS: "42" }), "telegram-allowlist").status, "skip");
    });
  });

  describe("redis-tls / redis-auth", () => {
    const redis = (url: string) => {
      const findings = audit({}, { REDIS_URL: url });
      return { tls: one(findings, "redis-tls"), auth: one(findings, "redis-auth"), text: JSON.stringify(findings) };
    };

    test("plain redis:// to a remote host fails (clear text), the password masked", () => {
      const { tls, auth, text } = redis("redis://:Sup3rSecretPw@10.0.0.5:6379/2");
      assert.equal(tls.status, "fail");
      assert.match(tls.detail, /traffic including event payloads and the password travels in clear text/);
      assert.match(tls.detail, /redis:\/\/:\*\*\*@10\.0\.0\.5:6379\/2/);
      assert.match(tls.fix!, /rediss:\/\//);
      assert.equal(auth.status, "pass");
      assert.ok(!text.includes("Sup3rSecretPw"));
    });

    test("a Tailscale host warns (WireGuard) for the transport", () => {
      for (const url of ["redis://:pw@100.64.0.1:6379", "redis://:pw@db.tail1234.ts.net:6379"]) {
        const { tls } = redis(url);
        assert.equal(tls.status, "warn", url);
        assert.match(tls.detail, /WireGuard/);
        assert.match(tls.fix!, /rediss:\/\/.*ACLs/);
      }
      // 100.128.x.x is outside 100.64.0.0/10.
      assert.equal(redis("redis://:pw@100.128.0.1:6379").tls.status, "fail");
    });

    test("rediss:// and loopback pass; no password on a remote host warns", () => {
      assert.equal(redis("rediss://:pw@redis.example.com:6380").tls.status, "pass");
      const local = redis("redis://127.0.0.1:6379");
      assert.equal(local.tls.status, "pass");
      assert.equal(local.auth.status, "pass");
      const open = redis("rediss://redis.example.com:6380");
      assert.equal(open.tls.status, "pass");
      assert.equal(open.auth.status, "warn");
      assert.match(open.auth.detail, /has no password/);
      assert.match(open.auth.fix!, /requirepass/);
    });
  });

  describe("webhooks", () => {
    const hooks = (value: string) => audit({}, { GATEWAY_HOOKS: value }).filter((f) => f.id === "webhooks");

    test("a hook with neither secret nor token fails; token-only and short secrets warn; HMAC passes", () => {
      const findings = hooks(JSON.stringify({ a: {}, b: { token: randomBytes(20).toString("hex") }, c: { secret: "short" }, d: { secret: HOOK_SECRET } }));
      const by = Object.fromEntries(findings.map((f) => [f.title, f]));
      assert.equal(by['Webhook "a"']!.status, "fail");
      assert.match(by['Webhook "a"']!.detail, /no secret \(HMAC\) or token/);
      assert.match(by['Webhook "a"']!.fix!, /"a":\{"secret"/);
      assert.equal(by['Webhook "b"']!.status, "warn");
      assert.match(by['Webhook "b"']!.fix!, /prefer an HMAC secret/);
      assert.equal(by['Webhook "c"']!.status, "warn");
      assert.match(by['Webhook "c"']!.detail, /the secret is 5 characters \(fewer than 16\)/);
      assert.equal(by['Webhook "d"']!.status, "pass");
      assert.ok(!JSON.stringify(findings).includes(HOOK_SECRET));
      assert.ok(!JSON.stringify(findings).includes("short"));
    });

    test("invalid JSON fails; unset skips", () => {
      assert.equal(hooks("{nope")[0]!.status, "fail");
      assert.equal(one(audit({}), "webhooks").status, "skip");
    });
  });

  test("the environment wins over gateway.env; GATEWAY_ENV_FILE moves or disables it", () => {
    const entries = { [ENV_FILE]: { mode: 0o600, content: envText({ REDIS_URL: "redis://10.0.0.5:6379" }) } };
    assert.equal(one(audit(entries), "redis-tls").status, "fail");
    assert.equal(one(audit(entries, { REDIS_URL: "redis://127.0.0.1:6379" }), "redis-tls").status, "pass");
    assert.equal(one(audit(entries, { GATEWAY_ENV_FILE: "none" }), "redis-tls").status, "pass");
    const moved = { "/srv/gw.env": { mode: 0o600, content: envText({ TELEGRAM_BOT_TOKEN: "1:x", TELEGRAM_PAIRING: "0" }) } };
    assert.equal(one(audit(moved, { GATEWAY_ENV_FILE: "/srv/gw.env" }), "telegram-allowlist").status, "fail");
  });
});

// ------------------------------------------------------------------------------ the command

interface Report {
  ok: boolean;
  home: string;
  envFile: string | null;
  findings: Finding[];
}

/** A controlled environment: nothing from the test runner's own settings leaks in. */
const CLEAN: Record<string, string> = {
  GATEWAY_TOKEN: "",
  GATEWAY_TOKEN_FILE: "",
  GATEWAY_HOST: "",
  GATEWAY_PORT: "",
  GATEWAY_HOOKS: "",
  REDIS_URL: "",
  GATEWAY_REDIS_CA_FILE: "",
  TELEGRAM_BOT_TOKEN: "",
  TELEGRAM_ALLOWED_USERS: "",
  TELEGRAM_ALLOWED_CHATS: "",
};

function tempHome(envFileText: string, mode: number): { home: string; envFile: string } {
  const home = mkdtempSync(join(tmpdir(), "pigw-security-"));
  const dir = join(home, ".config", "pi-gateway");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const envFile = join(dir, "gateway.env");
  writeFileSync(envFile, envFileText);
  chmodSync(envFile, mode);
  return { home, envFile };
}

async function securityAudit(home: string, env: Record<string, string>, json = true) {
  const result = await runCli(["security", "audit", "--home", home, ...(json ? ["--json"] : [])], { env: { ...CLEAN, HOME: home, ...env } });
  return result;
}

describe("pi-gateway security audit", () => {
  test("gateway.env 0644 holding the token: exit 1 with the chmod 600 fix; after chmod, exit 0", async () => {
    const token = randomBytes(32).toString("base64url");
    const { home, envFile } = tempHome(`GATEWAY_TOKEN=${token}\n`, 0o644);
    const first = await securityAudit(home, { GATEWAY_ENV_FILE: envFile });
    assert.equal(first.code, 1, first.stderr);
    const report = JSON.parse(first.stdout) as Report;
    assert.equal(report.ok, false);
    assert.equal(report.home, home);
    assert.equal(report.envFile, envFile);
    const perm = report.findings.find((f) => f.id === "file-permissions" && f.path === envFile)!;
    assert.equal(perm.status, "fail");
    assert.equal(perm.fix, `chmod 600 ${envFile}`);
    assert.match(perm.detail, /holds GATEWAY_TOKEN/);
    // The token came from gateway.env (loaded like every command does) and is strong.
    assert.equal(report.findings.find((f) => f.id === "token-strength")!.status, "pass");
    assert.ok(!first.stdout.includes(token) && !first.stderr.includes(token), "the token must never be printed");

    chmodSync(envFile, 0o600);
    const second = await securityAudit(home, { GATEWAY_ENV_FILE: envFile });
    assert.equal(second.code, 0, second.stdout);
    const after = JSON.parse(second.stdout) as Report;
    assert.equal(after.ok, true);
    assert.equal(after.findings.find((f) => f.path === envFile)!.status, "pass");
    assert.ok(!second.stdout.includes(token));
  });

  test("warnings alone exit 0 (0.0.0.0 with a strong token)", async () => {
    const { home, envFile } = tempHome("", 0o600);
    const result = await securityAudit(home, { GATEWAY_ENV_FILE: envFile, GATEWAY_TOKEN: randomBytes(32).toString("base64url"), GATEWAY_HOST: "0.0.0.0" });
    assert.equal(result.code, 0, result.stdout);
    const report = JSON.parse(result.stdout) as Report;
    assert.equal(report.ok, true);
    assert.equal(report.findings.find((f) => f.id === "bind-vs-auth")!.status, "warn");
    assert.ok(report.findings.every((f) => f.status !== "fail"));
  });

  test("human output: marks, fix lines, summary; exit 1", async () => {
    const weak = "changeme";
    const { home, envFile } = tempHome(`GATEWAY_TOKEN=${weak}\nTELEGRAM_BOT_TOKEN=1:abcdef\nREDIS_URL=redis://:pw-in-clear@10.9.8.7:6379\n`, 0o644);
    const result = await securityAudit(home, { GATEWAY_ENV_FILE: envFile, GATEWAY_HOST: "0.0.0.0" }, false);
    assert.equal(result.code, 1);
    const out = result.stdout;
    assert.match(out, new RegExp(`^Security audit of ${home} \\(settings: environment \\+ ${envFile}\\)\\n`));
    assert.match(out, /^! Network exposure: listens on 0\.0\.0\.0:8787, i\.e\. on every network interface/m);
    assert.match(out, /^✘ Gateway token strength: GATEWAY_TOKEN: 8 characters, about \d+ bits estimated; weak: /m);
    assert.match(out, new RegExp(`^✘ Permissions of gateway.env: ${envFile} is mode 644.*\\n    fix: chmod 600 ${envFile}$`, "m"));
    // Pairing is on by default, so a missing allowlist is a warning that says how to approve.
    assert.match(out, /^! Telegram allowlist: no allowlist: .*pairing code.*\n {4}fix: approve yourself with `pi-gateway pair approve <code>`/m);
    assert.match(out, /^✘ Redis transport: redis:\/\/:\*\*\*@10\.9\.8\.7:6379.*clear text\n {4}fix: use rediss:\/\//m);
    assert.match(out, /^- Webhooks: no webhooks configured/m);
    assert.match(out, /^✔ Redis authentication: password set$/m);
    assert.match(out, /\n\n3 failures, 2 warnings\.\n$/);
    for (const secret of ["pw-in-clear", "1:abcdef", "=changeme"]) assert.ok(!out.includes(secret), `leaked ${secret}`);
  });

  test("--home audits that home's gateway.env, not the invoking user's", async () => {
    const mine = tempHome(`GATEWAY_HOOKS='{"open":{}}'\nTELEGRAM_BOT_TOKEN=1:abc\n`, 0o600);
    const other = tempHome("TELEGRAM_BOT_TOKEN=2:def\nTELEGRAM_ALLOWED_USERS=42\n", 0o600);
    const result = await runCli(["security", "audit", "--home", other.home, "--json"], { env: { ...CLEAN, HOME: mine.home, GATEWAY_ENV_FILE: "" } });
    const report = JSON.parse(result.stdout) as Report;
    assert.equal(report.envFile, other.envFile);
    assert.equal(report.findings.find((f) => f.id === "telegram-allowlist")!.status, "pass");
    assert.equal(report.findings.find((f) => f.id === "webhooks")!.status, "skip");
    assert.equal(result.code, 0, result.stdout);
  });
});
