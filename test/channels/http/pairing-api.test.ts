// The web page's pairing API: token-protected list, approve and revoke, with bad bodies refused (400),
// unknown / expired codes 404 with the reason, and the approval visible to the bus (the Telegram gate's view).
import assert from "node:assert/strict";
import { test } from "node:test";
import type { GatewayBus } from "../../../src/bus/bus.js";
import { createHttpApp } from "../../../src/channels/http/app.js";
import { useRedisBus } from "../../helpers/redis-bus.js";

let bus: GatewayBus;
useRedisBus({ flushEach: true }, (_r, b) => {
  bus = b;
});
const TOKEN = "pairing-api-token-0123456789abcdef";
const LIMITS = { ttlMs: 3_600_000, maxPending: 20 };
const auth = { authorization: `Bearer ${TOKEN}` };

function post(path: string, body: string, headers: Record<string, string> = auth) {
  return createHttpApp({ bus, token: TOKEN }).request(path, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
}

test("GET /api/pairing lists requests and paired users; POST approve pairs the user; revoke removes them", async () => {
  const app = createHttpApp({ bus, token: TOKEN });
  const asked = await bus.pairing.request({ userId: "4242", username: "alice", name: "Alice" }, LIMITS);
  assert.equal(asked.status, "issued");
  const code = asked.status === "issued" ? asked.code : "";
  assert.equal((await app.request("/api/pairing")).status, 401);
  const list = await app.request(`/api/pairing?token=${TOKEN}`);
  assert.equal(list.status, 200);
  const listed = (await list.json()) as { requests: Array<{ code: string; userId: string }>; approved: unknown[] };
  assert.deepEqual([listed.requests.map((r) => [r.code, r.userId]), listed.approved], [[[code, "4242"]], []]);

  const approved = await post("/api/pairing/approve", JSON.stringify({ code: code.toLowerCase() }));
  assert.equal(approved.status, 200);
  assert.equal(((await approved.json()) as { approved: { userId: string } }).approved.userId, "4242");
  assert.equal(await bus.pairing.isApproved(4242), true);
  const again = await post("/api/pairing/approve", JSON.stringify({ code }));
  assert.equal(again.status, 404);
  assert.match(((await again.json()) as { error: string }).error, /no pairing request with code/);

  const revoked = await post("/api/pairing/revoke", JSON.stringify({ userId: "4242" }));
  assert.deepEqual(await revoked.json(), { revoked: true, userId: "4242" });
  assert.equal(await bus.pairing.isApproved(4242), false);
});

test("writes need the bearer token (no ?token=), a JSON object of the right shape; expired codes are 404 with the reason", async () => {
  assert.equal((await post(`/api/pairing/approve?token=${TOKEN}`, JSON.stringify({ code: "ABCDEFGH" }), {})).status, 401);
  for (const body of [
    "",
    "not json",
    "[]",
    "{}",
    JSON.stringify({ code: 12345678 }),
    JSON.stringify({ code: "ABCDEFGH", extra: 1 }),
    JSON.stringify({ code: "x".repeat(41) }),
  ]) {
    const response = await post("/api/pairing/approve", body);
    assert.equal(response.status, 400, body);
  }
  const malformed = await post("/api/pairing/approve", JSON.stringify({ code: "../../etc" }));
  assert.equal(malformed.status, 400);
  for (const userId of ["", "-1", "12a", "1".repeat(17)]) assert.equal((await post("/api/pairing/revoke", JSON.stringify({ userId }))).status, 400, userId);
  const old = await bus.pairing.request({ userId: "99" }, LIMITS, Date.now() - 2 * LIMITS.ttlMs);
  const expired = await post("/api/pairing/approve", JSON.stringify({ code: old.status === "issued" ? old.code : "" }));
  assert.equal(expired.status, 404);
  assert.match(((await expired.json()) as { error: string }).error, /has expired/);
  assert.equal((await createHttpApp({ token: TOKEN }).request("/api/pairing", { headers: auth })).status, 503);
});
