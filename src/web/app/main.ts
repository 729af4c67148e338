/**
 * pi-gateway's web page (bundled by esbuild into dist/web/app.js, served as /app.js):
 * - chat with the agent over the daemon's WebSocket (ws?token=...), replies streamed delta by delta
 *   and rendered as sanitized Markdown
 * - the whole conversation on load from GET api/history, and the turns of every origin live
 * - live event journal from GET api/journal every 2 s; status panels from GET api/status every 3 s
 * This module wires the views together and starts the page.
 */
import { AuthError, onUnauthorized, readToken, resetAuthorization, saveToken } from "./auth.js";
import { addSystemLine, interruptReplies, pauseReplies } from "./chat.js";
import { bindComposer, resendOutbox } from "./composer.js";
import { connect, disconnect, resetRetries, setConnectionHandlers } from "./connection.js";
import { loadHistory } from "./history.js";
import { resetJournal } from "./journal.js";
import { startPolling, stopPolling } from "./polling.js";
import { handleServerMessage } from "./server-messages.js";
import { state } from "./state.js";
import { pollStatus } from "./status.js";
import { tick } from "./ticker.js";
import { bindUi, ui } from "./ui.js";

function reportUnlessRefused(what: string): (error: unknown) => void {
  return (error) => {
    if (!(error instanceof AuthError)) addSystemLine(`Could not load ${what}: ${error instanceof Error ? error.message : String(error)}`, "error");
  };
}

/** (Re)starts everything with the current token. */
function start(): void {
  resetAuthorization();
  resetRetries();
  resetJournal();
  startPolling();
  loadHistory().catch(reportUnlessRefused("the conversation"));
  connect();
}

function init(): void {
  bindUi();
  bindComposer();
  setConnectionHandlers({ opened: resendOutbox, received: handleServerMessage, lost: pauseReplies, forgotten: interruptReplies, checkToken: pollStatus });
  onUnauthorized(() => {
    stopPolling();
    disconnect();
  });
  ui.historyMore.addEventListener("click", () => {
    loadHistory(true).catch(reportUnlessRefused("earlier turns"));
  });
  ui.conn.addEventListener("click", () => {
    if (state.conn === "reconnecting") connect();
  });
  ui.tokenForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const token = ui.tokenInput.value.trim();
    if (!token) return;
    saveToken(token);
    ui.tokenInput.value = "";
    start();
  });
  setInterval(tick, 1000);
  state.token = readToken();
  start();
  ui.input.focus();
}

init();
