// Images ride in a queued command (Redis) bounded: base64 only, image/* types, at most MAX_IMAGES,
// each capped; a stored command keeps them, and collect mode merges them in order.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { GatewayBus } from "../../src/bus/bus.js";
import { CommandQueue } from "../../src/daemon/command-queue.js";
import { MAX_IMAGE_BASE64, MAX_IMAGES, type InboundMessage } from "../../src/daemon/types.js";
import { useRedisBus } from "../helpers/redis-bus.js";

let bus: GatewayBus;
useRedisBus({ flushEach: true }, (_r, b) => {
  bus = b;
});
const image = { data: Buffer.from("png bytes").toString("base64"), mimeType: "image/png" };
const message = (id: string, extra: Partial<InboundMessage> = {}): InboundMessage => ({
  id,
  channel: "telegram",
  text: `text ${id}`,
  priority: "human",
  replyTo: { channel: "telegram", to: "1" },
  ...extra,
});

test("a command's images are stored and taken back whole; malformed or oversized ones are refused at submit", async () => {
  const queue = new CommandQueue(bus.commandQueue("img-test"), { agingMs: 60_000, collectWindowMs: 50 });
  await queue.init();
  assert.equal(await queue.submit(message("a", { images: [image] })), "queued");
  const taken = await queue.take();
  assert.deepEqual(taken?.message.images, [image]);
  for (const images of [
    [{ data: "not base64!", mimeType: "image/png" }],
    [{ data: image.data, mimeType: "text/html" }],
    [{ data: "", mimeType: "image/png" }],
    [{ data: "A".repeat(MAX_IMAGE_BASE64 + 4), mimeType: "image/png" }],
    Array.from({ length: MAX_IMAGES + 1 }, () => image),
  ]) {
    await assert.rejects(async () => queue.submit(message(`bad-${images.length}-${images[0]?.mimeType}`, { images })), "refused");
  }
});

test("collect mode merges the images of the merged commands, in order, at most MAX_IMAGES", async () => {
  const queue = new CommandQueue(bus.commandQueue("img-collect"), { agingMs: 60_000, collectWindowMs: 50 });
  await queue.init();
  const one = { data: Buffer.from("one").toString("base64"), mimeType: "image/jpeg" };
  const two = { data: Buffer.from("two").toString("base64"), mimeType: "image/png" };
  await queue.submit(message("c1", { mode: "collect", images: [one] }));
  await queue.submit(message("c2", { mode: "collect" }));
  await queue.submit(message("c3", { mode: "collect", images: [two, two, two, two] }));
  const merged = await queue.take();
  assert.equal(merged?.message.text, "text c1\n\ntext c2\n\ntext c3");
  assert.deepEqual(merged?.message.images, [one, two, two, two]);
});
