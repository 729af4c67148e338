// The WebSocket channel's pieces on their own: frame parsing, the upgrade token, the refusal
// written to the raw socket, and replies held back behind "queued". (server.test.ts drives them
// together through a real HTTP server and real clients.)
import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { PassThrough } from "node:stream";
import { describe, test } from "node:test";
import type { WebSocket } from "ws";
import { parseFrame } from "../../../src/channels/websocket/client-messages.js";
import { newConnection, releaseHeld, sendOrHold, type Connection } from "../../../src/channels/websocket/connection.js";
import { refuseUpgrade, upgradeToken } from "../../../src/channels/websocket/upgrade.js";
import type { ServerMessage } from "../../../src/daemon/ws-protocol.js";

const text = (value: string) => Buffer.from(value, "utf8");

describe("parseFrame", () => {
  test("a valid prompt, whether it arrived as one buffer, fragments or an ArrayBuffer", () => {
    const frame = '{"type":"prompt","id":"a1","text":"hi ✓"}';
    const expected = { message: { type: "prompt", id: "a1", text: "hi ✓" } };
    assert.deepEqual(parseFrame(text(frame), false), expected);
    assert.deepEqual(parseFrame([text(frame.slice(0, 7)), text(frame.slice(7))], false), expected);
    const bytes = text(frame);
    assert.deepEqual(parseFrame(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length), false), expected);
    assert.deepEqual(parseFrame(text('{"type":"status"}'), false), { message: { type: "status" } });
  });

  test("binary, empty, not JSON, not an object, unknown type, empty or oversized fields: a reason, never a throw", () => {
    assert.match(invalid(parseFrame(text('{"type":"status"}'), true)), /binary frames are not supported/);
    assert.match(invalid(parseFrame(text(""), false)), /^not JSON: /);
    assert.match(invalid(parseFrame(text("{"), false)), /^not JSON: /);
    assert.match(invalid(parseFrame(text("null"), false)), /^invalid message: message: /);
    assert.match(invalid(parseFrame(text("[1]"), false)), /^invalid message: /);
    assert.match(invalid(parseFrame(text('{"type":"rm -rf"}'), false)), /^invalid message: type: /);
    assert.match(invalid(parseFrame(text('{"type":"prompt","id":"","text":"x"}'), false)), /^invalid message: id: /);
    assert.match(invalid(parseFrame(text(JSON.stringify({ type: "prompt", id: "x".repeat(201), text: "x" })), false)), /^invalid message: id: /);
    assert.match(invalid(parseFrame(text('{"type":"prompt","id":"a"}'), false)), /^invalid message: text: /);
  });
});

function invalid(result: ReturnType<typeof parseFrame>): string {
  assert.ok("invalid" in result, `expected a refusal, got ${JSON.stringify(result)}`);
  return result.invalid;
}

describe("upgradeToken", () => {
  const request = (url: string | undefined, authorization?: string) =>
    ({ url, headers: authorization === undefined ? {} : { authorization } }) as IncomingMessage;

  test("the Bearer header, else ?token= (browsers), the header winning", () => {
    assert.equal(upgradeToken(request("/ws", "Bearer abc")), "abc");
    assert.equal(upgradeToken(request("/ws?token=q%20r")), "q r");
    assert.equal(upgradeToken(request("/ws?token=query", "Bearer header")), "header");
  });

  test("none: no header, no query, an empty or malformed URL, another scheme in the header", () => {
    assert.equal(upgradeToken(request("/ws")), undefined);
    assert.equal(upgradeToken(request(undefined)), undefined);
    assert.equal(upgradeToken(request("")), undefined);
    assert.equal(upgradeToken(request("//[bad")), undefined);
    assert.equal(upgradeToken(request("/ws", "Basic abc")), undefined);
  });
});

describe("refuseUpgrade", () => {
  test("writes a plain HTTP answer with a JSON body and closes the socket", async () => {
    const socket = new PassThrough();
    let written = "";
    socket.on("data", (chunk: Buffer) => (written += chunk.toString()));
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    refuseUpgrade(socket, 401, "Unauthorized", "wrong token");
    await closed;
    const [head, body] = written.split("\r\n\r\n");
    assert.match(head!, /^HTTP\/1\.1 401 Unauthorized\r\n/);
    assert.match(head!, /\r\nConnection: close(\r\n|$)/);
    assert.match(head!, new RegExp(`\\r\\nContent-Length: ${Buffer.byteLength(body!)}(\\r\\n|$)`));
    assert.deepEqual(JSON.parse(body!), { error: "wrong token", code: "UNAUTHORIZED" });
  });

  test("a socket that can no longer be written is destroyed without an error", () => {
    const socket = new PassThrough();
    socket.end();
    refuseUpgrade(socket, 503, "Service Unavailable", "stopping");
    assert.equal(socket.destroyed, true);
  });
});

describe("replies held behind queued", () => {
  test("replies for a request whose queued is pending wait, then go out in order; others go at once", () => {
    const connection: Connection = newConnection({} as WebSocket);
    const sent: ServerMessage[] = [];
    const send = (_connection: Connection, message: ServerMessage) => void sent.push(message);
    connection.held.set("ws:1", []);
    sendOrHold(connection, { type: "start", requestId: "ws:1" }, send);
    sendOrHold(connection, { type: "delta", requestId: "ws:1", text: "a" }, send);
    sendOrHold(connection, { type: "start", requestId: "other" }, send);
    assert.deepEqual(sent, [{ type: "start", requestId: "other" }]);
    sent.push({ type: "queued", id: "1", requestId: "ws:1", duplicate: false });
    releaseHeld(connection, "ws:1", send);
    assert.deepEqual(
      sent.map((m) => m.type),
      ["start", "queued", "start", "delta"],
    );
    assert.equal(connection.held.size, 0);
    sendOrHold(connection, { type: "end", requestId: "ws:1", text: "a" }, send);
    assert.equal(sent.at(-1)?.type, "end");
    releaseHeld(connection, "never-held", send);
    assert.equal(sent.length, 5);
  });

  test("connection ids are unguessable and distinct", () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newConnection({} as WebSocket).id));
    assert.equal(ids.size, 1000);
    for (const id of ids) assert.match(id, /^c-[A-Za-z0-9_-]{22}$/);
  });
});
