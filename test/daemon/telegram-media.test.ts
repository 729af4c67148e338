/**
 * Telegram media and pairing through the built daemon: the REAL pi SDK against the fake LLM (a model
 * that takes images), the fake Bot API, a private Redis. A photo reaches the model as an image part;
 * a document is saved and its path is in the prompt, and a reply naming it (`MEDIA:`) sends it back;
 * an unknown user gets a pairing code and never reaches the model until `pi-gateway pair approve`.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeEach, describe, test } from "node:test";
import { runCli } from "../helpers/cli.js";
import { startFakeTelegram, type FakeTelegram } from "../helpers/fake-telegram.js";
import { usePiSuite } from "../helpers/pi-suite.js";
import { waitFor } from "../helpers/wait.js";

const OWNER = 111;
const STRANGER = 222;
let telegram: FakeTelegram;

const suite = usePiSuite({
  flushEach: true,
  token: "telegram-media-test-token-0123456789",
  env: () => ({
    TELEGRAM_BOT_TOKEN: telegram.token,
    TELEGRAM_API_ROOT: telegram.apiRoot,
    TELEGRAM_ALLOWED_USERS: String(OWNER),
    GATEWAY_FILES_DIR: join(suite.piEnv.root, "files"),
  }),
  afterEnd: () => telegram.close(),
});
beforeEach(async () => {
  telegram = await startFakeTelegram();
  // The fake model takes images (pi drops them for a text-only model).
  const models = join(suite.piEnv.agentDir, "models.json");
  const config = JSON.parse(readFileSync(models, "utf8")) as { providers: Record<string, { models: Array<{ input: string[] }> }> };
  for (const provider of Object.values(config.providers)) for (const model of provider.models) model.input = ["text", "image"];
  writeFileSync(models, JSON.stringify(config));
  suite.llm.setResponder((r) => ({ text: `reply to: ${r.lastUserText.slice(0, 60)}` }));
});

const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(64, 3)]);

describe("Telegram media and pairing through the daemon", () => {
  test("photo in → the LLM request carries it as an image part, with the caption", async () => {
    await suite.daemon();
    telegram.injectMedia({ chatId: OWNER, userId: OWNER, kind: "photo", bytes: PNG, caption: "what do you see?" });
    const request = await suite.llm.waitForRequest((r) => r.lastUserText.includes("what do you see?"), 20_000);
    const user = request.body.messages?.filter((m) => m.role === "user").at(-1);
    const parts = Array.isArray(user?.content) ? user.content : [];
    assert.deepEqual(
      parts.filter((p) => p.type === "image_url").map((p) => p.image_url?.url),
      [`data:image/png;base64,${PNG.toString("base64")}`],
    );
    await waitFor(() => telegram.messagesIn(OWNER).some((t) => t.includes("reply to: what do you see?")), "the reply", 20_000);
  });

  test("document in → saved under GATEWAY_FILES_DIR, its path in the prompt; a MEDIA: line in the reply sends it back", async () => {
    await suite.daemon();
    suite.llm.setResponder((r) => {
      const path = /path (\/.*?), type /.exec(r.lastUserText)?.[1];
      return { text: path ? `Saved it.\nMEDIA: ${path}` : `reply to: ${r.lastUserText.slice(0, 60)}` };
    });
    const content = "name,qty\napples,3\n";
    telegram.injectMedia({ chatId: OWNER, userId: OWNER, kind: "document", bytes: Buffer.from(content), fileName: "../list.csv", mimeType: "text/csv" });
    const request = await suite.llm.waitForRequest((r) => r.lastUserText.includes("Telegram file received"), 20_000);
    const path = /path (\/.*?), type /.exec(request.lastUserText)?.[1] ?? assert.fail(request.lastUserText);
    assert.ok(path.startsWith(join(suite.piEnv.root, "files", "telegram")), path);
    assert.ok(path.endsWith("/list.csv"), path);
    assert.equal(readFileSync(path, "utf8"), content);
    assert.match(request.lastUserText, /type text\/csv, size 18 bytes/);
    await waitFor(() => telegram.uploads.length === 1, "the file sent back", 20_000);
    assert.deepEqual(
      [telegram.uploads[0]?.method, telegram.uploads[0]?.fileName, telegram.uploads[0]?.bytes.toString()],
      ["sendDocument", "list.csv", content],
    );
    await waitFor(() => telegram.messagesIn(OWNER).includes("Saved it."), "the reply text without the MEDIA line", 20_000);
  });

  test("pi-gateway notify --file: the owner's chat gets the file as a document, the text as its caption", async () => {
    await suite.daemon();
    telegram.addChat(OWNER);
    const file = join(suite.piEnv.root, "report.txt");
    writeFileSync(file, "report body");
    const result = await runCli(["notify", "--file", file, "the weekly report"], { env: suite.env() });
    assert.equal(result.code, 0, result.stderr);
    await waitFor(() => telegram.uploads.length === 1, "the file in the owner's chat", 20_000);
    const upload = telegram.uploads[0];
    assert.deepEqual(
      [upload?.method, upload?.chatId, upload?.fileName, upload?.caption, upload?.bytes.toString()],
      ["sendDocument", OWNER, "report.txt", "the weekly report", "report body"],
    );
  });

  test("pairing: an unknown user gets a code and never reaches the LLM; pair approve lets the next message through; revoke blocks again", async () => {
    await suite.daemon();
    telegram.injectMessage({ chatId: STRANGER, userId: STRANGER, text: "secret question one" });
    await waitFor(() => telegram.messagesIn(STRANGER).length === 1, "the pairing code", 20_000);
    const code = /code: ([A-Z2-9]{8})/.exec(telegram.messagesIn(STRANGER)[0] ?? "")?.[1] ?? assert.fail("no code");
    telegram.injectMessage({ chatId: STRANGER, userId: STRANGER, text: "secret question two" });
    // The owner's message after the stranger's: once it is answered, the stranger's were handled.
    telegram.injectMessage({ chatId: OWNER, userId: OWNER, text: "owner here" });
    await waitFor(() => telegram.messagesIn(OWNER).some((t) => t.includes("reply to: owner here")), "the owner's reply", 20_000);
    assert.equal(suite.llm.requests.filter((r) => r.lastUserText.includes("secret question")).length, 0, "the agent never saw the stranger");
    assert.equal(telegram.messagesIn(STRANGER).length, 1, "one code, no second answer");

    const env = suite.env();
    const approve = await runCli(["pair", "approve", code], { env });
    assert.equal(approve.code, 0, approve.stderr);
    telegram.injectMessage({ chatId: STRANGER, userId: STRANGER, text: "paired question" });
    await waitFor(() => telegram.messagesIn(STRANGER).some((t) => t.includes("reply to: paired question")), "the paired user's reply", 20_000);

    assert.equal((await runCli(["pair", "revoke", String(STRANGER)], { env })).code, 0);
    telegram.injectMessage({ chatId: STRANGER, userId: STRANGER, text: "secret question three" });
    await waitFor(() => telegram.messagesIn(STRANGER).length === 3, "a new code after the revoke", 20_000);
    assert.match(telegram.messagesIn(STRANGER)[2] ?? "", /pairing code/);
    telegram.injectMessage({ chatId: OWNER, userId: OWNER, text: "owner again" });
    await waitFor(() => telegram.messagesIn(OWNER).some((t) => t.includes("reply to: owner again")), "the owner's second reply", 20_000);
    assert.equal(suite.llm.requests.filter((r) => r.lastUserText.includes("secret question")).length, 0);
  });
});
