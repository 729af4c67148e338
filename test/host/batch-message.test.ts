/**
 * What a drained batch becomes for the agent (the extension and the daemon alike): real events
 * always, a heartbeat alone only while the agent is idle, and every id of the batch recorded.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { messageForBatch } from "../../src/host/batch-message.js";
import { createEvent } from "../../src/protocol/event.js";

const beat = (id: string) => createEvent("cron.heartbeat", "cron", {}, { id });
const job = (id: string) => createEvent("job.done", "worker", { id }, { id });
const never = () => {
  throw new Error("busy() asked although the batch has real events");
};

test("an empty batch is no message, and the agent's state is not even asked", async () => {
  assert.equal(await messageForBatch([], { heartbeatFile: "/h.md", busy: never }), undefined);
});

test("real events are shown without the heartbeat checklist, whatever the agent does; a heartbeat among them is left out but its id recorded", async () => {
  const message = await messageForBatch([beat("hb-1"), job("j-1"), job("j-2")], { heartbeatFile: "/srv/HEARTBEAT.md", busy: never });
  assert.ok(message);
  assert.equal(message.kind, "events");
  assert.deepEqual(
    message.shown.map((e) => e.id),
    ["j-1", "j-2"],
  );
  assert.deepEqual(message.ids, ["hb-1", "j-1", "j-2"]);
  assert.match(message.text, /2 gateway events/);
  assert.doesNotMatch(message.text, /hb-1|HEARTBEAT/);
});

test("a heartbeat alone: the checklist prompt while idle, nothing while busy (sync or async answer)", async () => {
  const idle = await messageForBatch([beat("hb-2")], { heartbeatFile: "/srv/HEARTBEAT.md", busy: () => false });
  assert.equal(idle?.kind, "heartbeat");
  assert.deepEqual(idle?.ids, ["hb-2"]);
  assert.match(idle!.text, /event-id: `hb-2`/);
  assert.match(idle!.text, /read \/srv\/HEARTBEAT.md .* reply exactly HEARTBEAT_OK/);
  assert.equal(await messageForBatch([beat("hb-3")], { heartbeatFile: "/h.md", busy: () => true }), undefined);
  assert.equal(await messageForBatch([beat("hb-4"), beat("hb-5")], { heartbeatFile: "/h.md", busy: async () => true }), undefined);
});

test("a busy check that fails fails the batch (the consumer hands it back), it is not shown by mistake", async () => {
  await assert.rejects(
    messageForBatch([beat("hb-6")], {
      heartbeatFile: "/h.md",
      busy: async () => {
        throw new Error("redis down");
      },
    }),
    /redis down/,
  );
});
