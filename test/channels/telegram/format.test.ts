// Pure tests of the Markdown → Telegram HTML converter and the message chunker. Converter output
// is also checked against the fake Bot API's parser (Telegram's tag and nesting rules).
import assert from "node:assert/strict";
import { test } from "node:test";
import { chunkMessage, markdownToTelegramHtml, scanFences } from "../../../src/channels/telegram/format.js";
import { mightBecomeHeartbeatAck, renderReply } from "../../../src/channels/telegram/replies.js";
import { parseTelegramHtml } from "../../helpers/fake-telegram.js";

const html = markdownToTelegramHtml;

test("markdownToTelegramHtml escapes &, < and > everywhere", () => {
  assert.equal(html("a < b && c > d"), "a &lt; b &amp;&amp; c &gt; d");
  assert.equal(html("<script>alert(1)</script>"), "&lt;script&gt;alert(1)&lt;/script&gt;");
  assert.equal(html("`x<y>&z`"), "<code>x&lt;y&gt;&amp;z</code>");
  assert.equal(html('```html\n<div class="a">&nbsp;</div>\n```'), '<pre><code class="language-html">&lt;div class="a"&gt;&amp;nbsp;&lt;/div&gt;</code></pre>');
  assert.equal(html("&lt; stays literal"), "&amp;lt; stays literal");
});

test("markdownToTelegramHtml: emphasis, code, links, headings", () => {
  assert.equal(html("**bold** __bold__ *it* _it_ ~~gone~~"), "<b>bold</b> <b>bold</b> <i>it</i> <i>it</i> <s>gone</s>");
  assert.equal(html("***both***"), "<b><i>both</i></b>");
  assert.equal(html("use `npm test` now"), "use <code>npm test</code> now");
  assert.equal(html("``a ` b``"), "<code>a ` b</code>");
  assert.equal(html("[docs](https://example.com/a_b?x=1&y=2)"), '<a href="https://example.com/a_b?x=1&amp;y=2">docs</a>');
  assert.equal(html('[t](https://e.com/x "title")'), '<a href="https://e.com/x">t</a>');
  assert.equal(html("[wiki](https://en.wikipedia.org/wiki/Foo_(bar))"), '<a href="https://en.wikipedia.org/wiki/Foo_(bar)">wiki</a>');
  assert.equal(html("see <https://example.com>"), 'see <a href="https://example.com">https://example.com</a>');
  assert.equal(html("![diagram](https://e.com/d.png)"), '<a href="https://e.com/d.png">diagram</a>');
  assert.equal(html("# Title\n## Sub *x* ##\ntext"), "<b>Title</b>\n<b>Sub <i>x</i></b>\ntext");
  assert.equal(html("```\nplain\n```"), "<pre><code>plain</code></pre>");
  assert.equal(html("~~~python\nprint('x')\n~~~"), "<pre><code class=\"language-python\">print('x')</code></pre>");
});

test("markdownToTelegramHtml: nesting follows Telegram's rules", () => {
  assert.equal(html("**bold *italic* bold**"), "<b>bold <i>italic</i> bold</b>");
  assert.equal(html("*it **bold** it*"), "<i>it <b>bold</b> it</i>");
  assert.equal(html("**see [the _docs_](https://e.com)**"), '<b>see <a href="https://e.com">the <i>docs</i></a></b>');
  // code can't sit inside bold/italic/links: it stays as plain text there.
  assert.equal(html("**run `make` first**"), "<b>run make first</b>");
  assert.equal(html("[`api`](https://e.com)"), '<a href="https://e.com">api</a>');
  // links can't nest: the inner one becomes text with its URL.
  assert.equal(html("[a [b](https://b.com) c](https://a.com)"), '<a href="https://a.com">a b (https://b.com) c</a>');
});

test("markdownToTelegramHtml leaves non-Markdown alone: lists, snake_case, arithmetic, stray markers, unsafe links", () => {
  assert.equal(html("- one\n* two\n1. three"), "- one\n* two\n1. three");
  assert.equal(html("snake_case_name and __init__ file_a_b"), "snake_case_name and <b>init</b> file_a_b");
  assert.equal(html("2*3*4 = 24 and a * b"), "2*3*4 = 24 and a * b");
  assert.equal(html("**unclosed and *also"), "**unclosed and *also");
  assert.equal(html("\\*not italic\\* and \\`tick\\`"), "*not italic* and `tick`");
  assert.equal(html("[click](javascript:alert(1))"), "[click](javascript:alert(1))");
  assert.equal(html("> quoted *text*"), "&gt; quoted <i>text</i>");
  assert.equal(html("| a | b |\n|---|---|"), "| a | b |\n|---|---|");
  assert.equal(html("price: $5 & 10% off ~ approx"), "price: $5 &amp; 10% off ~ approx");
});

test("markdownToTelegramHtml: an unclosed fence runs to the end; indented fences lose their indent", () => {
  assert.equal(html("text\n```js\nlet a = 1;"), 'text\n<pre><code class="language-js">let a = 1;</code></pre>');
  assert.equal(html("1. step\n   ```sh\n   ls -la\n   ```\n2. next"), '1. step\n<pre><code class="language-sh">ls -la</code></pre>\n2. next');
});

const TRICKY = [
  "**a *b **c** d* e**",
  "*a `b` c*",
  "_a_b_c_",
  "[x](https://e.com)[y](https://f.com)",
  "[**`x`**](https://e.com)",
  "***",
  "~~~~",
  "**`**`**",
  "<b>not a tag</b> & <i>",
  "a **b\nc** d",
  "```\n**not bold**\n```",
  "\\",
  "[unclosed](https://e.com",
  "`unclosed code",
  "__a *b* c__ ~~d **e**~~",
];

test("converter output always satisfies Telegram's HTML rules and never grows the visible text", () => {
  const alphabet = [
    "*",
    "**",
    "_",
    "__",
    "`",
    "```",
    "~~",
    "[",
    "]",
    "(",
    ")",
    "https://e.com",
    "<",
    ">",
    "&",
    "\\",
    " ",
    "\n",
    "a",
    "b",
    "word",
    "#",
    "# ",
    "-",
    "!",
  ];
  let seed = 42;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const inputs = [...TRICKY];
  for (let i = 0; i < 2000; i++) inputs.push(Array.from({ length: 1 + random(30) }, () => alphabet[random(alphabet.length)]).join(""));
  for (const input of inputs) {
    const output = html(input);
    let parsed: { text: string };
    try {
      parsed = parseTelegramHtml(output);
    } catch (error) {
      assert.fail(`${JSON.stringify(input)} → ${JSON.stringify(output)}: ${(error as Error).message}`);
    }
    assert.ok(parsed.text.length <= input.length, `${JSON.stringify(input)} grew to ${JSON.stringify(parsed.text)}`);
  }
});

test("chunkMessage keeps short texts whole and splits long ones strictly under the limit", () => {
  assert.deepEqual(chunkMessage("short"), ["short"]);
  assert.deepEqual(chunkMessage(""), [""]);
  assert.equal(chunkMessage("x".repeat(4095)).length, 1);
  const exact = chunkMessage("x".repeat(4096));
  assert.equal(exact.length, 2, "4096 is not strictly under 4096");
  assert.ok(exact.every((chunk) => chunk.length < 4096));
  assert.throws(() => chunkMessage("abc", 10), RangeError);
});

test("chunkMessage prefers paragraph, then line, then word boundaries, then a hard split", () => {
  const para = (n: number, letter: string): string => `${letter.repeat(n - 1)}.`;
  // Paragraphs: split after the blank line, which stays with the first chunk.
  assert.deepEqual(chunkMessage(`${para(60, "a")}\n\n${para(60, "b")}`, 100), [`${para(60, "a")}\n\n`, para(60, "b")]);
  // No paragraph break in range: a line break.
  assert.deepEqual(chunkMessage(`${para(30, "a")}\n\n${para(40, "b")}\n${para(50, "c")}`, 100), [`${para(30, "a")}\n\n${para(40, "b")}\n`, para(50, "c")]);
  // One long line of words: a space.
  const sentence = Array.from({ length: 30 }, (_, i) => `w${i}`).join(" ");
  const byWords = chunkMessage(sentence, 40);
  assert.equal(byWords.join(""), sentence);
  assert.ok(byWords.slice(0, -1).every((chunk) => chunk.endsWith(" ") && chunk.length < 40));
  // No whitespace at all: hard split.
  const blob = "x".repeat(250);
  const hard = chunkMessage(blob, 100);
  assert.deepEqual(
    hard.map((chunk) => chunk.length),
    [99, 99, 52],
  );
  // Never splits a surrogate pair.
  const emoji = "😀".repeat(120);
  const parts = chunkMessage(emoji, 101);
  assert.equal(parts.join(""), emoji);
  assert.ok(parts.every((chunk) => !/^[\uDC00-\uDFFF]|[\uD800-\uDBFF]$/.test(chunk)));
});

test("chunkMessage closes a fence at a split and reopens it with its language", () => {
  const code = Array.from({ length: 12 }, (_, i) => `line ${i} of code`).join("\n");
  const text = `Intro.\n\n\`\`\`python\n${code}\n\`\`\`\n\nOutro.`;
  const chunks = chunkMessage(text, 120);
  assert.ok(chunks.length >= 2);
  for (const chunk of chunks) {
    assert.ok(chunk.length < 120, `${chunk.length}`);
    assert.ok(
      scanFences(chunk).every((fence) => fence.closed),
      `unbalanced fence in ${JSON.stringify(chunk)}`,
    );
  }
  // Inner chunks start with the reopened fence (language kept) and end with a closing one.
  const reopened = chunks.filter((chunk) => chunk.startsWith("```python\n"));
  assert.ok(reopened.length >= 1);
  // Remove exactly the added markers: the rest is the original text.
  const rebuilt = chunks
    .map((chunk, i) => {
      let result = chunk;
      if (i > 0 && chunks[i - 1]?.endsWith("\n```") && chunk.startsWith("```python\n")) result = result.slice("```python\n".length);
      if (i < chunks.length - 1 && chunks[i + 1]?.startsWith("```python\n") && result.endsWith("```")) result = result.slice(0, -3);
      return result;
    })
    .join("");
  assert.equal(rebuilt, text);
  // Each chunk converts to well-formed HTML with the language on every piece of the block.
  for (const chunk of chunks) parseTelegramHtml(html(chunk));
  assert.ok(chunks.filter((chunk) => chunk.includes("line ")).every((chunk) => html(chunk).includes('<code class="language-python">')));
});

test("chunkMessage splits before a fence rather than right after its opening line", () => {
  const text = `${"a".repeat(80)}\n\`\`\`js\n${"x = 1;\n".repeat(10)}\`\`\``;
  const chunks = chunkMessage(text, 100);
  assert.ok(!chunks.some((chunk) => /```js\n```$/.test(chunk)), JSON.stringify(chunks));
  assert.ok(chunks.every((chunk) => chunk.length < 100));
});

test("chunkMessage fuzz: every chunk is under the limit, fences balanced, content preserved", () => {
  let seed = 7;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const fenceLine = /^[ \t]*(?:`{3,}|~{3,})[^\n]*(?:\n|$)/gm;
  const strip = (text: string): string => text.replace(fenceLine, "").replace(/\n/g, "");
  for (let round = 0; round < 300; round++) {
    const blocks: string[] = [];
    for (let b = 0; b < 1 + random(8); b++) {
      const lines = Array.from({ length: 1 + random(12) }, () => Array.from({ length: 1 + random(12) }, () => "word".slice(0, 1 + random(4))).join(" "));
      blocks.push(random(3) === 0 ? `\`\`\`${["", "ts", "py"][random(3)]}\n${lines.join("\n")}\n\`\`\`` : lines.join("\n"));
    }
    const text = blocks.join(random(2) ? "\n\n" : "\n");
    const limit = 40 + random(200);
    const chunks = chunkMessage(text, limit);
    for (const chunk of chunks) {
      assert.ok(chunk.length < limit, `chunk of ${chunk.length} >= ${limit}`);
      assert.ok(
        scanFences(chunk).every((fence) => fence.closed),
        `unbalanced fence in ${JSON.stringify(chunk)} (limit ${limit})`,
      );
    }
    assert.equal(strip(chunks.join("")), strip(text));
  }
});

test("renderReply: chunks of Markdown with their HTML; the visible text of each fits one message", () => {
  const markdown = `**Title**\n\n${"Some *text* with `code` & <tags>. ".repeat(300)}`;
  const chunks = renderReply(markdown);
  assert.ok(chunks.length >= 3);
  for (const chunk of chunks) {
    assert.ok(chunk.markdown.length < 4096);
    assert.ok(parseTelegramHtml(chunk.html).text.length < 4096);
  }
  assert.equal(chunks.map((chunk) => chunk.markdown).join(""), markdown);
});

test("mightBecomeHeartbeatAck holds back previews that could still be an ack", () => {
  for (const text of ["", "  ", "HEART", "**HEARTBEAT", "HEARTBEAT_OK", "HEARTBEAT_OK — nothing new"]) assert.equal(mightBecomeHeartbeatAck(text), true, text);
  for (const text of ["Hello", "HEARTS", "The build failed"]) assert.equal(mightBecomeHeartbeatAck(text), false, text);
});
