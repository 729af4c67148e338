// Telegram media against the fake Bot API: photos become images for the model, documents / voice /
// audio are saved under the files directory (sanitised, unique names, size-capped), too large is
// refused to the sender, and files go out as photos / documents (notifications, `MEDIA:` lines).
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { sanitiseFileName } from "../../../src/channels/telegram/media.js";
import { extractMediaLines } from "../../../src/channels/telegram/files-out.js";
import type { TelegramChannel } from "../../../src/channels/telegram/channel.js";
import { waitFor } from "../../helpers/wait.js";
import { answer, OWNER, startHarness, waitConfirmed } from "./harness.js";

const root = mkdtempSync(join(tmpdir(), "tg-media-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
function filesDir(): string {
  return join(root, `files-${++n}`);
}
const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(200, 7)]);
const from = { chatId: OWNER.chatId, userId: OWNER.userId };
const pathIn = (text: string): string => /path (\/.*?), type /.exec(text)?.[1] ?? assert.fail(`no path in: ${text}`);

test("a photo reaches the command as a base64 image with its caption as the text", async () => {
  const h = await startHarness({ filesDir: filesDir() });
  try {
    h.fake.injectMedia({ ...from, kind: "photo", bytes: PNG, caption: "what is this?" });
    await waitFor(() => h.submits.length === 1, "the photo's command");
    const message = h.submits[0]!;
    assert.equal(message.text, "what is this?");
    assert.deepEqual(message.images, [{ data: PNG.toString("base64"), mimeType: "image/png" }]);
    // Without a caption the agent is still told what arrived.
    h.fake.injectMedia({ ...from, kind: "photo", bytes: Buffer.from([0xff, 0xd8, 0xff, 1, 2, 3]) });
    await waitFor(() => h.submits.length === 2, "the second photo");
    assert.match(h.submits[1]!.text, /photo without a caption/);
    assert.equal(h.submits[1]!.images?.[0]?.mimeType, "image/jpeg");
  } finally {
    await h.stop();
  }
});

test("a document is saved under <files dir>/telegram/<date>/ and its path, type and size are in the prompt", async () => {
  const dir = filesDir();
  const h = await startHarness({ filesDir: dir });
  try {
    const content = Buffer.from("%PDF-1.4 fake pdf body\n");
    h.fake.injectMedia({ ...from, kind: "document", bytes: content, fileName: "report.pdf", mimeType: "application/pdf", caption: "summarise" });
    await waitFor(() => h.submits.length === 1, "the document's command");
    const text = h.submits[0]!.text;
    const path = pathIn(text);
    assert.equal(path, join(dir, "telegram", new Date().toISOString().slice(0, 10), "report.pdf"));
    assert.deepEqual(readFileSync(path), content);
    assert.match(text, /^summarise\n\n\[Telegram file received and saved: path .*, type application\/pdf, size 23 bytes/);
    assert.equal(h.submits[0]!.images, undefined);
    // A voice message has no name: one is made up.
    h.fake.injectMedia({ ...from, kind: "voice", bytes: Buffer.from("OggS voice"), mimeType: "audio/ogg" });
    await waitFor(() => h.submits.length === 2, "the voice command");
    assert.match(pathIn(h.submits[1]!.text), /\/voice-\d+\.ogg$/);
  } finally {
    await h.stop();
  }
});

test("hostile file names are sanitised: no separators, no leading dots, bounded length, never overwriting", async () => {
  const dir = filesDir();
  const h = await startHarness({ filesDir: dir });
  try {
    const names = [
      "../../etc/passwd",
      ".bashrc",
      "..",
      "a\\b\\..\\c.txt",
      "x\u0000y\n.sh",
      `${"é".repeat(300)}.txt`,
      "same.txt",
      "same.txt",
      "$(rm -rf ~).txt",
    ];
    for (const fileName of names) h.fake.injectMedia({ ...from, kind: "document", bytes: Buffer.from(fileName), fileName });
    await waitFor(() => h.submits.length === names.length, "every document");
    const day = join(dir, "telegram", new Date().toISOString().slice(0, 10));
    const saved = h.submits.map((m) => pathIn(m.text));
    for (const path of saved) {
      assert.ok(path.startsWith(`${day}/`), `${path} is inside the day's directory`);
      const name = path.slice(day.length + 1);
      assert.ok(!name.includes("/") && !name.startsWith(".") && Buffer.byteLength(name) <= 120, `safe name: ${name}`);
    }
    const savedNames = saved.map((p) => p.slice(day.length + 1));
    assert.deepEqual(
      savedNames.filter((_, i) => i !== 2 && i !== 5),
      ["passwd", "bashrc", "c.txt", "x_y_.sh", "same.txt", "same-1.txt", "_(rm -rf ~).txt"],
    );
    assert.match(saved[2]!, /\/document-\d+$/, "a name of only dots falls back to a made-up one");
    assert.match(saved[5]!, /^.*\/é+\.txt$/, "a long name is cut, its extension kept");
    // Every file holds what was sent for it: nothing overwritten.
    names.forEach((fileName, i) => assert.equal(readFileSync(saved[i]!, "utf8"), fileName));
    assert.equal(readdirSync(day).length, names.length);
    assert.ok(!existsSync(join(root, "etc")));
  } finally {
    await h.stop();
  }
});

test("sanitiseFileName at its edges", () => {
  assert.equal(sanitiseFileName(undefined, "fallback"), "fallback");
  assert.equal(sanitiseFileName("", "fallback"), "fallback");
  assert.equal(sanitiseFileName("   ", "fallback"), "fallback");
  assert.equal(sanitiseFileName("dir/", "fallback"), "fallback");
  assert.equal(sanitiseFileName("ok name.tar.gz", "f"), "ok name.tar.gz");
  assert.equal(sanitiseFileName("trailing. . ", "f"), "trailing");
});

test("too large: refused before the download when declared, while reading when not; the sender is told, nothing is queued or kept", async () => {
  const dir = filesDir();
  const h = await startHarness({ filesDir: dir, fileMaxBytes: 1024, photoMaxBytes: 1024 });
  try {
    const big = Buffer.alloc(4096, 1);
    const declared = h.fake.injectMedia({ ...from, kind: "document", bytes: big, fileName: "big.bin" });
    await waitFor(() => h.fake.messagesIn(OWNER.chatId).length === 1, "the refusal");
    assert.match(h.fake.messagesIn(OWNER.chatId)[0]!, /^⚠️ Not received: the file is 4\.0 KiB, over the 1\.0 KiB limit \(GATEWAY_TELEGRAM_FILE_MAX\)/);
    assert.deepEqual(h.fake.downloads, [], "not even fetched");
    // A size claimed small but served large is cut off while reading.
    h.fake.injectMedia({ ...from, kind: "document", bytes: big, fileName: "liar.bin", declaredSize: 10 });
    await waitFor(() => h.fake.messagesIn(OWNER.chatId).length === 2, "the second refusal");
    assert.match(h.fake.messagesIn(OWNER.chatId)[1]!, /over the 1\.0 KiB limit/);
    h.fake.injectMedia({ ...from, kind: "photo", bytes: big });
    await waitFor(() => h.fake.messagesIn(OWNER.chatId).length === 3, "the photo's refusal");
    assert.match(h.fake.messagesIn(OWNER.chatId)[2]!, /the photo is 4\.0 KiB, over the 1\.0 KiB limit \(GATEWAY_TELEGRAM_PHOTO_MAX\)/);
    const last = h.fake.injectMedia({ ...from, kind: "audio", bytes: Buffer.from("small"), fileName: "ok.mp3" });
    await waitConfirmed(h.fake, Math.max(declared, last));
    await waitFor(() => h.submits.length === 1, "the small file");
    assert.match(h.submits[0]!.text, /ok\.mp3/);
    assert.equal(readdirSync(join(dir, "telegram", new Date().toISOString().slice(0, 10))).length, 1, "only the small file is on disk");
    assert.ok(h.logs.filter((e) => e.level === "warn" && e.msg === "telegram: media refused").length === 3);
  } finally {
    await h.stop();
  }
});

test("a notification's file goes as a photo (image) or a document, the text as caption; a missing file is named with the reason", async () => {
  const dir = filesDir();
  const h = await startHarness({ filesDir: dir });
  const channel = h.channel as TelegramChannel;
  try {
    h.fake.addChat(OWNER.chatId);
    const png = join(root, "chart.png");
    writeFileSync(png, PNG);
    const txt = join(root, "notes.txt");
    writeFileSync(txt, "some notes");
    await channel.deliverNotice(String(OWNER.chatId), { id: "1-0", text: "the chart", from: "cli", at: 1, file: png });
    await channel.deliverNotice(String(OWNER.chatId), { id: "2-0", text: "x".repeat(1500), from: "cli", at: 2, file: txt });
    await channel.deliverNotice(String(OWNER.chatId), { id: "3-0", text: "gone", from: "cli", at: 3, file: join(root, "missing.pdf") });
    assert.deepEqual(
      h.fake.uploads.map((u) => [u.method, u.fileName, u.caption, u.bytes.length]),
      [
        ["sendPhoto", "chart.png", "the chart", PNG.length],
        ["sendDocument", "notes.txt", undefined, 10],
      ],
    );
    const texts = h.fake.messagesIn(OWNER.chatId);
    assert.ok(texts.includes("x".repeat(1500)), "a text too long for a caption goes as its own message");
    assert.ok(texts.some((t) => t.startsWith("gone") && t.includes(`File not sent: ${join(root, "missing.pdf")} (no such file)`)));
  } finally {
    await h.stop();
  }
});

test("a reply's MEDIA: lines send files from the allowed directories only; others are refused in the chat", async () => {
  const dir = filesDir();
  const allowed = join(root, "work");
  const h = await startHarness({ filesDir: dir, replyFileDirs: [dir, allowed] });
  try {
    h.fake.addChat(OWNER.chatId);
    writeFileSync(join(root, "secret.txt"), "secret");
    await import("node:fs/promises").then((fs) => fs.mkdir(allowed, { recursive: true }));
    writeFileSync(join(allowed, "out.csv"), "a,b\n1,2\n");
    const { symlinkSync } = await import("node:fs");
    symlinkSync(join(root, "secret.txt"), join(allowed, "link.txt"));
    const reply = `Here it is.\nMEDIA: ${join(allowed, "out.csv")}\nMEDIA: ${join(root, "secret.txt")}\nMEDIA: ${join(allowed, "link.txt")}\nMEDIA: relative.txt`;
    await answer(h.channel, String(OWNER.chatId), "req-1", reply);
    const texts = (): string[] => h.fake.messagesIn(OWNER.chatId).filter((t) => t !== "");
    await waitFor(() => texts().length === 4, "the reply and three refusals");
    assert.deepEqual(
      h.fake.uploads.map((u) => [u.method, u.fileName, u.bytes.toString()]),
      [["sendDocument", "out.csv", "a,b\n1,2\n"]],
    );
    assert.equal(texts()[0], "Here it is.");
    assert.match(texts()[1]!, /File not sent: .*secret\.txt \(outside the directories/);
    assert.match(texts()[2]!, /File not sent: .*link\.txt \(outside the directories/, "a symlink out of the directory is followed and refused");
    assert.match(texts()[3]!, /File not sent: relative\.txt \(not an absolute path\)/);
  } finally {
    await h.stop();
  }
});

test("extractMediaLines leaves other text alone", () => {
  assert.deepEqual(extractMediaLines("no media here"), { text: "no media here", files: [] });
  assert.deepEqual(extractMediaLines("a\n  MEDIA:  /x/y z.png  \nb"), { text: "a\n\nb", files: ["/x/y z.png"] });
  assert.deepEqual(extractMediaLines("inline MEDIA: /x is not a line"), { text: "inline MEDIA: /x is not a line", files: [] });
});
