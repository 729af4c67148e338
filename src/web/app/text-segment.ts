/**
 * A block of reply text that grows delta by delta and shows as Markdown. Rendering parses the whole
 * block again, so while text streams it renders at most once every RENDER_EVERY_MS (the first delta
 * at once, then what arrived meanwhile): a long reply of many small deltas would otherwise cost time
 * quadratic in its length. `flush()` renders now (when the block closes).
 */
import { renderMarkdown } from "./markdown.js";
import { replyText } from "./turns.js";

const RENDER_EVERY_MS = 50;

export class TextSegment {
  readonly node = replyText("");
  private source = "";
  private dirty = false;
  private timer: ReturnType<typeof setTimeout> | undefined;

  /** `around` wraps each timed render (the chat keeps its scroll position with it). */
  constructor(private readonly around: (render: () => void) => void = (render) => render()) {}

  append(text: string): void {
    this.source += text;
    this.dirty = true;
    if (this.timer === undefined) this.tick();
  }

  /** Renders what is new now, then waits; the wait ends with a render of what came meanwhile, if anything did. */
  private tick(): void {
    if (!this.dirty) {
      this.timer = undefined;
      return;
    }
    this.around(() => this.flush());
    this.timer = setTimeout(() => this.tick(), RENDER_EVERY_MS);
  }

  flush(): void {
    this.dirty = false;
    this.node.replaceChildren(renderMarkdown(this.source));
  }
}
