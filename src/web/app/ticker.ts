/** Once a second: ages ("12s ago"), the status panel's staleness, the reconnect countdown. */
import { renderConnText } from "./connection.js";
import { setText } from "./dom.js";
import { formatAge } from "./format.js";
import { state } from "./state.js";
import { ui } from "./ui.js";

export const STATUS_EVERY_MS = 3_000;

let statusAt = 0;

/** api/status answered just now. */
export function statusArrived(): void {
  statusAt = Date.now();
  tick();
}

export function tick(): void {
  const now = Date.now();
  for (const node of document.querySelectorAll<HTMLElement>("[data-since]")) {
    const since = Number(node.dataset.since);
    if (Number.isFinite(since)) setText(node, `${formatAge(now - since)}${node.dataset.suffix ?? ""}`);
  }
  if (statusAt) {
    const age = now - statusAt;
    const stale = age > STATUS_EVERY_MS * 3;
    setText(ui.statusUpdated, stale ? `stale · updated ${formatAge(age)} ago` : "updated just now");
    ui.statusUpdated.classList.toggle("warn", stale);
  }
  if (state.conn === "reconnecting") renderConnText();
}
