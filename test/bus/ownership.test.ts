/**
 * One live owner per session id (register-5.lua and the consumer's lease handling): held ids are
 * refused, expired ones taken over, explicit takeovers win, a displaced holder stops draining at
 * once, and concurrent starters end with exactly one owner. On a single Redis and on a real Redis
 * Cluster alike.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { hostname } from "node:os";
import { beforeEach, describe, test } from "node:test";
import { GatewayBus, type LeaseHolder } from "../../src/bus/bus.js";
import { EventConsumer } from "../../src/bus/consumer.js";
import { describeHolder } from "../../src/bus/lease.js";
import { createEvent, type GatewayEvent } from "../../src/protocol/event.js";
import { onSingleAndCluster } from "../helpers/redis-bus.js";
import { sleep, waitFor } from "../helpers/wait.js";

onSingleAndCluster({ flushEach: true, bus: { presenceTtlMs: 60_000 } }, (backend) => {
  let bus: GatewayBus;
  let redis: { url: string };
  beforeEach(() => {
    ({ bus } = backend());
    redis = { url: backend().url };
  });

  const central = (instance: string, kind = "pi") => ({ id: "gateway", role: "central" as const, durable: true, instance, kind });

  describe("session id lease (register)", () => {
    test("a live lease is refused to another instance, naming the holder; its own renewal keeps it", async () => {
      const first = await bus.register({ ...central("a", "daemon"), pid: 4242 });
      assert.equal(first.status, "owner");
      const second = await bus.register(central("b"));
      assert.equal(second.status, "held");
      const holder = (second as { holder: LeaseHolder }).holder;
      assert.equal(holder.instance, "a");
      assert.equal(holder.kind, "daemon");
      assert.equal(holder.pid, 4242);
      assert.equal(holder.host, hostname());
      assert.ok(holder.since > 0 && holder.since <= Date.now() + 1000, "since is when a took the id");
      assert.match(describeHolder(holder), new RegExp(`^daemon pid 4242 on ${hostname()}, since \\d\\d:\\d\\d$`));
      const info = await bus.client.hgetall(bus.keys.sessionInfo("gateway"));
      assert.equal(info.instance, "a", "the refused registration wrote nothing");
      assert.equal(info.pid, "4242");
      const since = info.started;
      await sleep(5);
      assert.equal((await bus.register({ ...central("a", "daemon"), pid: 4242 })).status, "owner", "the holder renews");
      assert.equal(await bus.client.hget(bus.keys.sessionInfo("gateway"), "started"), since, "renewal keeps 'since'");
      assert.equal((await bus.leaseHolder("gateway"))?.instance, "a");
    });

    test("an expired lease (holder dead) is taken over without asking; a clean unregister frees it at once", async () => {
      const short = new GatewayBus(bus.client, { ...bus.options, presenceTtlMs: 200 });
      assert.equal((await short.register(central("a"))).status, "owner");
      assert.equal((await short.register(central("b"))).status, "held");
      await sleep(300);
      assert.equal(await bus.leaseHolder("gateway"), undefined, "nobody holds an expired lease");
      const taken = await short.register(central("b"));
      assert.equal(taken.status, "owner");
      assert.equal((taken as { previous: { instance: string } }).previous.instance, "a");

      await bus.unregister("gateway", "b");
      assert.equal((await bus.register(central("c"))).status, "owner", "a clean stop releases the id");
    });

    test("explicit takeover wins over a live lease; the old holder's next renewal is refused (it lost)", async () => {
      await bus.register(central("a"));
      const taken = await bus.register(central("b"), { takeover: "force" });
      assert.equal(taken.status, "owner");
      const renewal = await bus.register(central("a"));
      assert.equal(renewal.status, "held", "the displaced holder learns it on its next renewal");
      assert.equal((renewal as { holder: LeaseHolder }).holder.instance, "b");
    });

    test("takeover from a named holder only succeeds while that one still holds the id", async () => {
      await bus.register(central("dead"));
      assert.equal((await bus.register(central("x"), { takeover: "dead" })).status, "owner");
      // A second successor of the same dead holder comes too late: x holds it now.
      const late = await bus.register(central("y"), { takeover: "dead" });
      assert.equal(late.status, "held");
      assert.equal((late as { holder: LeaseHolder }).holder.instance, "x");
    });

    test("race: 50 instances registering the same id at once end with exactly one owner", async () => {
      const clients = await Promise.all(Array.from({ length: 10 }, () => GatewayBus.connect({ redisUrl: redis.url, presenceTtlMs: 60_000 })));
      try {
        for (let round = 0; round < 5; round++) {
          await backend().flush();
          const results = await Promise.all(Array.from({ length: 50 }, (_, i) => clients[i % clients.length]!.register(central(`r${round}-${i}`))));
          const owners = results.flatMap((r, i) => (r.status === "owner" ? [`r${round}-${i}`] : []));
          assert.equal(owners.length, 1, `round ${round}: exactly one owner (${owners.join(",")})`);
          for (const r of results) if (r.status === "held") assert.equal(r.holder.instance, owners[0], "every loser names the winner");
          assert.equal(await bus.client.hget(bus.keys.sessionInfo("gateway"), "instance"), owners[0]);
        }
      } finally {
        await Promise.all(clients.map((c) => c.close()));
      }
    });

    test("race: separate processes asking in the same millisecond end with exactly one owner", async () => {
      const children = Array.from({ length: 4 }, () =>
        spawn(process.execPath, ["--import", "tsx", "test/fixtures/lease-child.ts"], {
          env: { ...process.env, REDIS_URL: redis.url, SID: "gateway" },
          stdio: ["pipe", "pipe", "inherit"],
        }),
      );
      const outputs = children.map((child) => {
        let out = "";
        child.stdout.on("data", (d: Buffer) => (out += d.toString()));
        const exited = new Promise<string>((resolve, reject) =>
          child.once("exit", (code) => (code === 0 ? resolve(out.split("\n")[1] ?? "") : reject(new Error(`lease child exited ${code}`)))),
        );
        return { ready: () => out.startsWith("ready\n"), exited };
      });
      await waitFor(() => outputs.every((o) => o.ready()), "every child connected", 20_000);
      // Every child is connected and waiting: they all register at this same millisecond.
      const at = String(Date.now() + 200);
      for (const child of children) child.stdin.end(`${at}\n`);
      const lines = await Promise.all(outputs.map((o) => o.exited));
      const owners = lines.filter((l) => l.startsWith("owner ")).map((l) => l.slice(6));
      assert.equal(owners.length, 1, `exactly one owner: ${lines.join(" | ")}`);
      for (const line of lines.filter((l) => l.startsWith("held "))) assert.equal(line.slice(5), owners[0], "the others name the winner");
    });
  });

  describe("consumers and the lease", () => {
    async function consumer(options: { takeover?: boolean; presenceTtlMs?: number } = {}) {
      const consumerBus = await GatewayBus.connect({ redisUrl: redis.url, persistent: true, pollIntervalMs: 100, presenceTtlMs: options.presenceTtlMs ?? 600 });
      const got: GatewayEvent[] = [];
      const c = new EventConsumer({
        bus: consumerBus,
        sessionId: "gateway",
        role: "central",
        durable: true,
        extraQueues: ["main"],
        takeover: options.takeover,
        deliver: async ({ events }) => void got.push(...events),
      });
      const events: string[] = [];
      c.on("held", (h) => events.push(`held:${h.instance}`));
      c.on("lost", (h) => events.push(`lost:${h.instance}`));
      c.on("acquired", ({ waited }) => events.push(`acquired:${waited}`));
      const stop = async () => {
        await c.stop();
        await consumerBus.close();
      };
      return { c, got, events, stop };
    }

    test("a second consumer on a held id drains nothing (not even main), then takes over once the first stops", async () => {
      const first = await consumer();
      const second = await consumer();
      try {
        await first.c.start();
        await second.c.start();
        assert.equal(first.c.owner, true);
        assert.equal(second.c.owner, false);
        assert.deepEqual(second.events, [`held:${first.c.instance}`]);
        assert.equal(second.c.holder?.instance, first.c.instance);
        for (let i = 0; i < 20; i++) await bus.push(createEvent("split.check", "t", {}, { id: `e${i}` }));
        await bus.client.lpush("agent:events:main", JSON.stringify(createEvent("legacy", "t", {}, { id: "m1" })));
        await waitFor(() => first.got.length === 21, "first drains everything", 5_000);
        await sleep(300);
        assert.equal(second.got.length, 0, "the held consumer never drained a single event");

        await first.stop();
        await waitFor(() => second.events.includes("acquired:true"), "second takes over on its presence tick", 5_000);
        assert.equal(second.c.owner, true);
        assert.deepEqual(second.events, [`held:${first.c.instance}`, "acquired:true"]);
        await bus.push(createEvent("after", "t", {}, { id: "after-1" }));
        await waitFor(() => second.got.some((e) => e.id === "after-1"), "second drains now", 5_000);
      } finally {
        await first.stop();
        await second.stop();
      }
    });

    test("a held consumer takes over when the holder's lease expires (holder frozen, not stopped)", async () => {
      const holderBus = new GatewayBus(bus.client, { ...bus.options, presenceTtlMs: 400 });
      await holderBus.register({ ...central("frozen", "daemon"), pid: 1 }); // pid 1: alive, so not "provably dead"
      const waiting = await consumer({ presenceTtlMs: 600 });
      try {
        await waiting.c.start();
        assert.equal(waiting.c.owner, false);
        await waitFor(() => waiting.events.includes("acquired:true"), "taken over after the lease expired", 5_000);
        assert.equal(waiting.c.owner, true);
        assert.deepEqual(waiting.events, ["held:frozen", "acquired:true"]);
      } finally {
        await waiting.stop();
      }
    });

    test("explicit takeover: the old owner stops draining at its next claim, before its presence tick", async () => {
      const old = await consumer({ presenceTtlMs: 60_000 }); // presence tick every 20 s: far beyond this test
      const usurper = await consumer({ takeover: true, presenceTtlMs: 60_000 });
      try {
        await old.c.start();
        assert.equal(old.c.owner, true);
        await usurper.c.start();
        assert.equal(usurper.c.owner, true);
        for (let i = 0; i < 30; i++) await bus.push(createEvent("after.takeover", "t", {}, { id: `t${i}` }));
        await waitFor(() => usurper.got.length + old.got.length >= 30, "all delivered", 5_000);
        await sleep(200);
        assert.equal(old.got.length, 0, "the displaced owner drained nothing after the takeover");
        assert.equal(usurper.got.length, 30);
        assert.equal(old.c.owner, false);
        assert.deepEqual(old.events, ["acquired:false", `lost:${usurper.c.instance}`]);
      } finally {
        await old.stop();
        await usurper.stop();
      }
    });

    test("a holder whose process is gone (same host) is replaced at once, and the crash is reported", async () => {
      const dead = spawnSync(process.execPath, ["-e", "0"]).pid!; // exited: its pid is free
      await bus.register({ ...central("crashed", "pi"), pid: dead });
      const next = await consumer({ presenceTtlMs: 60_000 });
      const crashed: number[] = [];
      next.c.on("predecessorCrashed", (p) => crashed.push(p.pid ?? 0));
      try {
        await next.c.start();
        assert.equal(next.c.owner, true, "no wait for the dead holder's lease");
        assert.deepEqual(crashed, [dead], "the tripwire still fires");
      } finally {
        await next.stop();
      }
    });
  });
});
