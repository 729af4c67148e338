import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { WebSocket } from "ws";
import { createHttpApp } from "../../../src/channels/http/app.js";
import { startHttpServer, type RunningHttpServer } from "../../../src/channels/http/server.js";
import { createWebSocketChannel, type WebSocketChannel } from "../../../src/channels/websocket/server.js";
import type { DaemonStatus, InboundMessage, SubmitResult } from "../../../src/daemon/types.js";
import type { ServerMessage } from "../../../src/daemon/ws-protocol.js";
import { runCli } from "../../helpers/cli.js";
import { waitFor } from "../../helpers/wait.js";

const TOKEN = "ws-token-abcdef";

/** A stub daemon: records what reaches it and answers each prompt with start / delta / delta / end. */
class StubDaemon {
  submits: InboundMessage[] = [];
  aborts = 0;
  statusCalls = 0;
  seen = new Set<string>();
  /** When set, replies start before submit() resolves (the race "queued" must win). */
  replyBeforeAck = false;

  constructor(readonly channel: () => WebSocketChannel) {}

  commands = {
    submit: async (message: InboundMessage): Promise<SubmitResult> => {
      this.submits.push(message);
      if (this.seen.has(message.id)) return { status: "duplicate", requestId: message.id };
      this.seen.add(message.id);
      const reply = this.reply(message);
      if (this.replyBeforeAck) await reply;
      else void reply;
      return { status: "queued", requestId: message.id };
    },
  };

  control = {
    status: async (): Promise<DaemonStatus> => {
      this.statusCalls++;
      return { state: "idle", queue: { human: 0, event: 0, heartbeat: 0 }, processed: 3, lastHeartbeat: null };
    },
    abort: async () => {
      this.aborts++;
    },
    newSession: async () => undefined,
  };

  private async reply(message: InboundMessage): Promise<void> {
    await Promise.resolve();
    const to = message.replyTo!.to;
    const requestId = message.id;
    const channel = this.channel();
    await channel.deliver(to, { type: "start", requestId });
    for (const word of [`echo `, message.text]) await channel.deliver(to, { type: "delta", requestId, text: word });
    await channel.deliver(to, { type: "tool", requestId, name: "bash", phase: "start" });
    await channel.deliver(to, { type: "end", requestId, text: `echo ${message.text}` });
  }
}

let channel: WebSocketChannel;
let daemon: StubDaemon;
let server: RunningHttpServer;
let wsUrl: string;
const sockets: WebSocket[] = [];

before(async () => {
  channel = createWebSocketChannel({ token: TOKEN, heartbeatMs: 200 });
  daemon = new StubDaemon(() => channel);
  await channel.start({ commands: daemon.commands, control: daemon.control, logger: { debug() {}, info() {}, warn() {}, error() {} } });
  server = await startHttpServer({ app: createHttpApp({ token: TOKEN }), websocket: channel, port: 0 });
  wsUrl = `${server.url.replace("http", "ws")}/ws`;
});
after(async () => {
  await channel.stop();
  await server.close();
});
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.terminate();
  daemon.replyBeforeAck = false;
});

/** A client that records every message it gets. */
interface Client {
  socket: WebSocket;
  messages: ServerMessage[];
  hello: Extract<ServerMessage, { type: "hello" }>;
  send(value: unknown): void;
  next(predicate: (m: ServerMessage) => boolean, what: string): Promise<ServerMessage>;
}

async function connect(options: { token?: string; query?: boolean; url?: string; autoPong?: boolean } = {}): Promise<Client> {
  const token = options.token ?? TOKEN;
  const url = options.query ? `${options.url ?? wsUrl}?token=${encodeURIComponent(token)}` : (options.url ?? wsUrl);
  const headers = options.query ? {} : { authorization: `Bearer ${token}` };
  const socket = new WebSocket(url, { headers, autoPong: options.autoPong ?? true });
  sockets.push(socket);
  const messages: ServerMessage[] = [];
  socket.on("message", (data) => messages.push(JSON.parse(data.toString()) as ServerMessage));
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
    socket.once("unexpected-response", (_req, res) => reject(Object.assign(new Error(`status ${res.statusCode}`), { statusCode: res.statusCode })));
  });
  const hello = (await waitFor(() => messages.find((m) => m.type === "hello"), "hello", 2_000)) as Client["hello"];
  return {
    socket,
    messages,
    hello,
    send: (value) => socket.send(typeof value === "string" ? value : JSON.stringify(value)),
    next: (predicate, what) => waitFor(() => messages.find(predicate), what, 3_000),
  };
}

/** Status code of a refused upgrade, seen through the `ws` client's 'unexpected-response'. */
function refusedWith(headers: Record<string, string>, url = wsUrl): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    socket.once("open", () => reject(new Error("the upgrade was accepted")));
    socket.once("error", () => undefined);
    socket.once("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (chunk: Buffer) => (body += chunk.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
  });
}

describe("authentication before the upgrade", () => {
  test("no token, wrong token → 401; right token (header or ?token=) → hello", async () => {
    const none = await refusedWith({});
    assert.equal(none.status, 401);
    assert.deepEqual(JSON.parse(none.body), { error: "missing token", code: "UNAUTHORIZED" });
    assert.equal((await refusedWith({ authorization: "Bearer nope" })).status, 401);
    assert.equal((await refusedWith({}, `${wsUrl}?token=nope`)).status, 401);
    assert.equal((await refusedWith({ authorization: `Bearer ${TOKEN}` }, `${server.url.replace("http", "ws")}/other`)).status, 404);

    const client = await connect();
    assert.equal(client.hello.type, "hello");
    assert.match(client.hello.connection, /^c-[A-Za-z0-9_-]{20,}$/);
    assert.match(client.hello.version, /^\d+\.\d+\.\d+/);
    const browser = await connect({ query: true });
    assert.notEqual(browser.hello.connection, client.hello.connection);
    assert.equal(channel.connections(), 2);
  });

  test("an empty configured token refuses everything", async () => {
    const closed = createWebSocketChannel({ token: "" });
    await closed.start({ commands: daemon.commands, control: daemon.control, logger: { debug() {}, info() {}, warn() {}, error() {} } });
    const other = await startHttpServer({ app: createHttpApp(), websocket: closed, port: 0 });
    try {
      const url = `${other.url.replace("http", "ws")}/ws`;
      assert.equal((await refusedWith({ authorization: "Bearer " }, url)).status, 401);
      assert.equal((await refusedWith({}, `${url}?token=`)).status, 401);
      assert.equal((await refusedWith({}, url)).status, 401);
    } finally {
      await closed.stop();
      await other.close();
    }
  });
});

describe("prompts and replies", () => {
  test("prompt → queued → start, deltas, tool, end, in order; submitted as a human command replying to this connection", async () => {
    const client = await connect();
    client.send({ type: "prompt", id: "11111111-aaaa", text: "hi" });
    await client.next((m) => m.type === "end", "end");
    assert.deepEqual(client.messages.slice(1), [
      { type: "queued", id: "11111111-aaaa", requestId: "ws:11111111-aaaa", duplicate: false },
      { type: "start", requestId: "ws:11111111-aaaa", seq: 1 },
      { type: "delta", requestId: "ws:11111111-aaaa", text: "echo ", seq: 2 },
      { type: "delta", requestId: "ws:11111111-aaaa", text: "hi", seq: 3 },
      { type: "tool", requestId: "ws:11111111-aaaa", name: "bash", phase: "start", seq: 4 },
      { type: "end", requestId: "ws:11111111-aaaa", text: "echo hi", seq: 5 },
    ]);
    const submitted = daemon.submits.find((m) => m.id === "ws:11111111-aaaa");
    assert.deepEqual(
      { ...submitted, meta: undefined },
      {
        id: "ws:11111111-aaaa",
        channel: "websocket",
        text: "hi",
        priority: "human",
        replyTo: { channel: "websocket", to: client.hello.client },
        meta: undefined,
      },
    );
  });

  test("queued is sent before replies even when the daemon answers before submit() resolves", async () => {
    daemon.replyBeforeAck = true;
    const client = await connect();
    client.send({ type: "prompt", id: "race-1", text: "fast" });
    await client.next((m) => m.type === "end", "end");
    assert.deepEqual(
      client.messages.slice(1).map((m) => m.type),
      ["queued", "start", "delta", "delta", "tool", "end"],
    );
  });

  test("two clients at once each get only their own replies", async () => {
    const [a, b] = await Promise.all([connect(), connect()]);
    a.send({ type: "prompt", id: "a-1", text: "from a" });
    b.send({ type: "prompt", id: "b-1", text: "from b" });
    await a.next((m) => m.type === "end", "a end");
    await b.next((m) => m.type === "end", "b end");
    const ids = (c: Client) => new Set(c.messages.flatMap((m) => ("requestId" in m ? [m.requestId] : [])));
    assert.deepEqual(ids(a), new Set(["ws:a-1"]));
    assert.deepEqual(ids(b), new Set(["ws:b-1"]));
    assert.deepEqual(b.messages.at(-1), { type: "end", requestId: "ws:b-1", text: "echo from b", seq: 5 });
  });

  test("the same client id re-sent (even after a reconnect) is a duplicate, not run twice", async () => {
    const first = await connect();
    first.send({ type: "prompt", id: "dup-uuid", text: "once" });
    await first.next((m) => m.type === "end", "end");
    first.socket.close();
    const second = await connect();
    second.send({ type: "prompt", id: "dup-uuid", text: "once" });
    const queued = await second.next((m) => m.type === "queued", "queued");
    assert.deepEqual(queued, { type: "queued", id: "dup-uuid", requestId: "ws:dup-uuid", duplicate: true });
    assert.equal(daemon.submits.filter((m) => m.id === "ws:dup-uuid").length, 2);
    assert.equal(daemon.seen.has("ws:dup-uuid"), true);
  });

  test("a client that reconnects with its id and last seq gets what it missed, in order, once; then live replies go on", async () => {
    const client = "resume-client-0123456789";
    const first = await connect({ url: `${wsUrl}?client=${client}` });
    assert.equal(first.hello.client, client);
    assert.equal(first.hello.resumed, false);
    const to = first.hello.client;
    await channel.deliver(to, { type: "start", requestId: "r1" });
    await channel.deliver(to, { type: "delta", requestId: "r1", text: "one " });
    await first.next((m) => m.type === "delta", "first delta");
    first.socket.close();
    await waitFor(() => first.socket.readyState === WebSocket.CLOSED, "close");
    // While away: the rest of the turn.
    await channel.deliver(to, { type: "delta", requestId: "r1", text: "two " });
    await channel.deliver(to, { type: "end", requestId: "r1", text: "one two" });
    const back = await connect({ url: `${wsUrl}?client=${client}&epoch=${first.hello.epoch}&after=2` });
    assert.equal(back.hello.resumed, true);
    assert.equal(back.hello.missed, 2);
    await back.next((m) => m.type === "end", "the missed end");
    await channel.deliver(to, { type: "delta", requestId: "r2", text: "live" });
    await back.next((m) => m.type === "delta" && m.requestId === "r2", "a live reply after the resume");
    assert.deepEqual(back.messages.slice(1), [
      { type: "delta", requestId: "r1", text: "two ", seq: 3 },
      { type: "end", requestId: "r1", text: "one two", seq: 4 },
      { type: "delta", requestId: "r2", text: "live", seq: 5 },
    ]);
    // A second resume from the same point gets nothing it already acknowledged.
    back.socket.close();
    await waitFor(() => back.socket.readyState === WebSocket.CLOSED, "close");
    const again = await connect({ url: `${wsUrl}?client=${client}&epoch=${first.hello.epoch}&after=5` });
    assert.equal(again.hello.missed, 0);
  });

  test("from another epoch (the daemon restarted) everything kept is sent; a malformed resume is a new client", async () => {
    const client = "restart-client-0123456789";
    await channel.deliver(client, { type: "end", requestId: "replayed", text: "answer after a restart" });
    const back = await connect({ url: `${wsUrl}?client=${client}&epoch=an-old-epoch&after=41` });
    assert.equal(back.hello.resumed, true, "the reply for a client this process never saw was kept");
    await back.next((m) => m.type === "end", "the kept reply");
    for (const bad of ["short", "bad id with spaces", "x".repeat(200)]) {
      const fresh = await connect({ url: `${wsUrl}?client=${encodeURIComponent(bad)}&after=-1` });
      assert.notEqual(fresh.hello.client, bad, `a malformed id (${bad.slice(0, 20)}) is replaced`);
      assert.equal(fresh.hello.resumed, false);
    }
  });

  test("deliver() to a gone or unknown connection does not throw", async () => {
    const client = await connect();
    const id = client.hello.connection;
    client.socket.close();
    await waitFor(() => client.socket.readyState === WebSocket.CLOSED, "close");
    await channel.deliver(id, { type: "delta", requestId: "x", text: "late" });
    await channel.deliver("c-unknown", { type: "end", requestId: "x", text: "" });
  });
});

describe("protocol errors and control", () => {
  test("invalid frames get `invalid` and the connection stays open", async () => {
    const client = await connect();
    client.send("{not json");
    client.send({ type: "launch-missiles" });
    client.send({ type: "prompt", id: "", text: "x" });
    client.send({ type: "prompt", id: "ok", text: "" });
    client.socket.send(Buffer.from([1, 2, 3]), { binary: true });
    await waitFor(() => client.messages.filter((m) => m.type === "invalid").length === 5, "5 invalid");
    const messages = client.messages.filter((m) => m.type === "invalid").map((m) => (m as { message: string }).message);
    assert.match(messages[0]!, /^not JSON/);
    assert.match(messages[1]!, /^invalid message: type/);
    assert.match(messages[2]!, /id/);
    assert.match(messages[3]!, /text/);
    assert.match(messages[4]!, /binary/);
    assert.equal(client.socket.readyState, WebSocket.OPEN);
    client.send({ type: "prompt", id: "after-invalid", text: "still here" });
    await client.next((m) => m.type === "end", "end after invalid frames");
  });

  test("status and abort reach the daemon control", async () => {
    const client = await connect();
    const before = daemon.aborts;
    client.send({ type: "status" });
    const status = await client.next((m) => m.type === "status", "status");
    assert.deepEqual(status, { type: "status", status: { state: "idle", queue: { human: 0, event: 0, heartbeat: 0 }, processed: 3, lastHeartbeat: null } });
    client.send({ type: "abort" });
    await waitFor(() => daemon.aborts === before + 1, "abort");
  });

  test("frames over maxPayloadBytes close the connection (1009)", async () => {
    const small = createWebSocketChannel({ token: TOKEN, maxPayloadBytes: 1024 });
    await small.start({ commands: daemon.commands, control: daemon.control, logger: { debug() {}, info() {}, warn() {}, error() {} } });
    const other = await startHttpServer({ app: createHttpApp(), websocket: small, port: 0 });
    try {
      const client = await connect({ url: `${other.url.replace("http", "ws")}/ws` });
      const code = new Promise<number>((resolve) => client.socket.once("close", (c) => resolve(c)));
      client.send({ type: "prompt", id: "big", text: "x".repeat(4096) });
      assert.equal(await code, 1009);
    } finally {
      await small.stop();
      await other.close();
    }
  });

  test("heartbeat: a client that stops answering pings is dropped", async () => {
    const client = await connect({ autoPong: false });
    const id = client.hello.connection;
    const healthy = await connect();
    const closed = new Promise<void>((resolve) => client.socket.once("close", () => resolve()));
    await closed;
    await channel.deliver(id, { type: "delta", requestId: "x", text: "to nobody" });
    // A client that answers pings stays.
    assert.equal(healthy.socket.readyState, WebSocket.OPEN);
  });
});

describe("pi-gateway chat", () => {
  test("--message sends one prompt, prints the streamed reply and exits 0", async () => {
    const result = await runCli(["chat", "--url", wsUrl, "--message", "hi"], { env: { GATEWAY_TOKEN: TOKEN } });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "echo hi\n[tool bash …]\n");
    const submitted = daemon.submits.at(-1)!;
    assert.equal(submitted.text, "hi");
    assert.match(submitted.id, /^ws:[0-9a-f-]{36}$/);
  });

  test("--json prints the raw server messages as JSON lines", async () => {
    const result = await runCli(["chat", "--url", wsUrl, "--token", TOKEN, "--message", "yo", "--json"]);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as ServerMessage);
    assert.deepEqual(
      lines.map((m) => m.type),
      ["hello", "queued", "start", "delta", "delta", "tool", "end"],
    );
  });

  test("interactive: lines from stdin, /status, EOF waits for the reply then exits", async () => {
    const result = await runCli(["chat", "--url", wsUrl, "--token", TOKEN], { input: "/status\nfirst\n" });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /connected \(gateway /);
    assert.match(result.stdout, /state: idle \| queue: human 0, event 0, heartbeat 0 \| processed: 3/);
    assert.match(result.stdout, /echo first\n/);
  });

  test("bad token and refused connection: one clear line, exit 1", async () => {
    const [bad, refused, noToken] = await Promise.all([
      runCli(["chat", "--url", wsUrl, "--token", "wrong", "--message", "hi"]),
      runCli(["chat", "--url", "ws://127.0.0.1:1/ws", "--token", "x", "--message", "hi"]),
      runCli(["chat", "--url", wsUrl, "--message", "hi"], { env: { GATEWAY_TOKEN: "", GATEWAY_TOKEN_FILE: "/nonexistent/pi-gateway-token" } }),
    ]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^pi-gateway: the gateway at ws:\/\/127\.0\.0\.1:\d+\/ws refused the token \(401\)/);
    assert.equal(bad.stderr.trim().split("\n").length, 1);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /connection refused \(is the daemon running\?\)/);
    assert.equal(noToken.code, 2);
    assert.match(noToken.stderr, /no token/);
  });
});
