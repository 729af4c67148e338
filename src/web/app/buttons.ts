/** Send and Abort: Abort only while a turn runs and the WebSocket is open; Send unless refused. */
import { state, streaming } from "./state.js";
import { ui } from "./ui.js";

export function updateButtons(): void {
  const open = state.conn === "connected";
  ui.abort.disabled = !(open && (streaming() || state.daemon?.state === "busy"));
  ui.send.disabled = state.authorized === false;
}
