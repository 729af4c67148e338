// The inline Markdown readers at their edges: each construct's reader either renders it or leaves
// every character as (escaped) text, whatever the input.
import assert from "node:assert/strict";
import { test } from "node:test";
import { escapeHtml, renderInline } from "../../../src/channels/telegram/markdown-inline.js";

const all = { code: true, links: true };
const render = (text: string) => renderInline(text, all);

test("empty and plain text; HTML is always escaped", () => {
  assert.equal(render(""), "");
  assert.equal(render("plain"), "plain");
  assert.equal(render("<b>&amp;</b>"), "&lt;b&gt;&amp;amp;&lt;/b&gt;");
  assert.equal(escapeHtml(`<a href="x">'&'</a>`), `&lt;a href="x"&gt;'&amp;'&lt;/a&gt;`);
});

test("backslash: escapes punctuation only; a trailing or lone one stays", () => {
  assert.equal(render("\\*not italic\\*"), "*not italic*");
  assert.equal(render("\\<b\\>"), "&lt;b&gt;");
  assert.equal(render("ends with \\"), "ends with \\");
  assert.equal(render("\\a"), "\\a");
  assert.equal(render("\\\\*x*"), "\\<i>x</i>");
});

test("code spans: unclosed backticks stay text; where code is not allowed its content is text", () => {
  assert.equal(render("`open"), "`open");
  assert.equal(render("``a`"), "``a`");
  assert.equal(render("` `"), "<code> </code>");
  assert.equal(render("`  x  `"), "<code> x </code>");
  assert.equal(renderInline("`<x>`", { code: false, links: true }), "&lt;x&gt;");
});

test("links: unsafe or unfinished ones stay text; without links allowed the URL follows the label", () => {
  assert.equal(render("[x](javascript:alert(1))"), "[x](javascript:alert(1))");
  assert.equal(render("[x](https://e.com"), "[x](https://e.com");
  assert.equal(render("[x] (https://e.com)"), "[x] (https://e.com)");
  assert.equal(render("![x]"), "![x]");
  assert.equal(render("wow!"), "wow!");
  assert.equal(render("[](https://e.com)"), '<a href="https://e.com">https://e.com</a>');
  assert.equal(render('[a"b](https://e.com/"q)'), '<a href="https://e.com/&quot;q">a"b</a>');
  assert.equal(renderInline("[*x*](https://e.com)", { code: true, links: false }), "<i>x</i> (https://e.com)");
  assert.equal(renderInline("<https://e.com>", { code: true, links: false }), "https://e.com");
  assert.equal(render("<javascript:alert(1)>"), "&lt;javascript:alert(1)&gt;");
});

test("emphasis: runs it cannot use stay text", () => {
  assert.equal(render("****four****"), "****four****");
  assert.equal(render("~single~"), "~single~");
  assert.equal(render("~~~three~~~"), "~~~three~~~");
  assert.equal(render("snake_case_name"), "snake_case_name");
  assert.equal(render("2*3*4"), "2*3*4");
  assert.equal(render("* not a list *"), "* not a list *");
  assert.equal(render("**unclosed"), "**unclosed");
  // The closing * is searched past code spans; code cannot sit inside italics, so it becomes text.
  assert.equal(render("*`a*`*"), "<i>a*</i>");
});
