/**
 * The two columns of key names (docs/cluster.md §1): a single Redis keeps every original name (no
 * migration), a cluster gives every key of a session its events list's hash tag and every global
 * key `{<prefix>:gateway}`, so each script runs in one slot. Slots are computed with the same
 * function ioredis routes by (cluster-key-slot).
 */
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { test } from "node:test";
import { keySpace, type KeySpace } from "../../src/protocol/keys.js";

const keySlot = createRequire(import.meta.url)("cluster-key-slot") as (key: string) => number;

/** Every key name a session's scripts touch (its queue, lease state, record, journal, dead letters, daemon queue). */
function sessionKeys(k: KeySpace, sid: string): string[] {
  const d = k.daemon(sid);
  return [
    k.events(sid),
    k.inflight(sid),
    k.leases(sid),
    k.delivered(sid),
    k.sessionInfo(sid),
    k.enqueued(sid),
    k.owner(sid),
    k.deadLettersOf(sid),
    k.journalOf(sid),
    k.countersOf(sid),
    ...["queue:human", "queue:event", "queue:heartbeat", "seen", "done", "started", "retry", "turns"].map((what) => `${d}:${what}`),
  ];
}

function globalKeys(k: KeySpace): string[] {
  return [
    k.sessions,
    k.presence,
    k.centrals,
    k.drainers("main"),
    k.indexed,
    k.pushed,
    k.fanout("e-1"),
    k.deadLetters,
    k.journal,
    k.counters,
    k.config,
    k.lastHeartbeat,
    k.schedules,
    k.schedulesDue,
    k.notifications,
    k.notificationsDelivered,
    k.pairingRequests,
    k.pairingExpiry,
    k.pairingUsers,
    k.pairingApproved,
  ];
}

test("single Redis: every original name is unchanged, and a session's journal, dead letters and counters are the global ones", () => {
  const k = keySpace();
  assert.equal(k.cluster, false);
  assert.deepEqual(
    [k.events("s"), k.notify("s"), k.inflight("s"), k.leases("s"), k.delivered("s"), k.sessionInfo("s"), k.daemon("gateway"), k.daemon("s")],
    [
      "agent:events:s",
      "agent:notify:s",
      "agent:inflight:s",
      "agent:leases:s",
      "agent:delivered:s",
      "agent:gateway:session:s",
      "agent:daemon",
      "agent:daemon:s",
    ],
  );
  assert.deepEqual(globalKeys(k).slice(0, 5), [
    "agent:gateway:sessions",
    "agent:gateway:presence",
    "agent:gateway:centrals",
    "agent:gateway:drainers:main",
    "agent:gateway:indexed",
  ]);
  assert.equal(k.journal, "agent:gateway:journal");
  assert.equal(k.deadLetters, "agent:gateway:deadletter");
  assert.deepEqual([k.journalOf("s"), k.deadLettersOf("s"), k.countersOf("s")], [k.journal, k.deadLetters, k.counters]);
  // A claimer's lease is its own record's `instance`, as before.
  assert.deepEqual(k.leaseOf("main", "gateway"), ["agent:gateway:session:gateway", "instance"]);
  assert.equal(keySpace("other").sessions, "other:gateway:sessions");
});

test("cluster: every key of a session hashes to the slot of its untagged events list, for any prefix and id", () => {
  for (const prefix of ["agent", "team-2"]) {
    const k = keySpace(prefix, { cluster: true });
    assert.equal(k.cluster, true);
    // Braces in an id: the events list's own tag (`c`, `{`) decides the slot, and the session's keys follow it.
    for (const sid of ["main", "gateway", "pid-4711", "a:b{c}", "{"]) {
      // The seed's raw producer keeps its name: LPUSH agent:events:main.
      assert.equal(k.events(sid), `${prefix}:events:${sid}`);
      const slots = new Set(sessionKeys(k, sid).map(keySlot));
      assert.deepEqual([...slots], [keySlot(k.events(sid))], `${prefix} ${sid}: ${sessionKeys(k, sid).join(" ")}`);
    }
    assert.deepEqual(new Set(globalKeys(k).map(keySlot)).size, 1, globalKeys(k).join(" "));
    // The claim reads the claimer's lease in the queue's own slot.
    const [lease, field] = k.leaseOf("main", "gateway");
    assert.deepEqual([keySlot(lease), field], [keySlot(k.events("main")), "gateway"]);
  }
  // The slots docs/cluster.md quotes.
  const k = keySpace("agent", { cluster: true });
  assert.deepEqual([keySlot(k.events("gateway")), keySlot(k.events("main")), keySlot(k.sessions)], [3267, 8682, 14186]);
});

test("cluster: a session id whose queue name no tag can match is refused with the reason", () => {
  const k = keySpace("agent", { cluster: true });
  for (const sid of ["x}y", "x{}y"]) {
    assert.throws(() => k.inflight(sid), new RegExp(`the queue name "agent:events:${sid}" cannot be used on a Redis Cluster: .*without braces`));
  }
  assert.equal(keySpace().inflight("x}y"), "agent:inflight:x}y");
});

test("cluster: a session's journal, dead letters and counters are its own, not the global ones", () => {
  const k = keySpace("agent", { cluster: true });
  assert.notEqual(k.journalOf("s"), k.journal);
  assert.notEqual(k.deadLettersOf("s"), k.deadLetters);
  assert.notEqual(k.countersOf("s"), k.counters);
  assert.notEqual(k.journalOf("s"), k.journalOf("t"));
});
