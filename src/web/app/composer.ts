/**
 * The message box: Enter sends, Shift+Enter breaks the line. A prompt waits in the outbox until the
 * daemon acknowledges it (`queued`), and is resent with the same id after a reconnect.
 */
import type { ClientMessage } from "../../daemon/ws-protocol.js";
import { addSystemLine, addUserMessage, setMeta } from "./chat.js";
import { send } from "./connection.js";
import { newId } from "./format.js";
import { state } from "./state.js";
import { ui } from "./ui.js";

/** The daemon's limit (ClientMessageSchema): longer prompts are refused before sending. */
const PROMPT_MAX = 100_000;

function sendPrompt(): void {
  const text = ui.input.value.trim();
  if (!text) return;
  if (text.length > PROMPT_MAX) {
    addSystemLine("That message is too long (over 100 000 characters).", "error");
    return;
  }
  const id = newId();
  const node = addUserMessage(text, id);
  state.outbox.set(id, { text, node });
  ui.input.value = "";
  ui.messages.scrollTop = ui.messages.scrollHeight;
  setMeta(node, send({ type: "prompt", id, text }) ? "sent" : "waiting for connection");
  ui.input.focus();
}

/** The socket (re)opened: resend every prompt not acknowledged yet, then ask for the status. */
export function resendOutbox(sendNow: (message: ClientMessage) => void): void {
  for (const [id, pending] of state.outbox) {
    sendNow({ type: "prompt", id, text: pending.text });
    setMeta(pending.node, "sent");
  }
  sendNow({ type: "status" });
}

export function bindComposer(): void {
  ui.composer.addEventListener("submit", (event) => {
    event.preventDefault();
    sendPrompt();
  });
  ui.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendPrompt();
    }
  });
  ui.abort.addEventListener("click", () => {
    if (send({ type: "abort" })) addSystemLine("abort requested");
  });
}
