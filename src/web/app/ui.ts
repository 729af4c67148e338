/** The page's fixed elements (index.html), looked up once at start. */
import { byId, h } from "./dom.js";

export interface Ui {
  conn: HTMLButtonElement;
  connText: HTMLElement;
  version: HTMLElement;
  daemonState: HTMLElement;
  auth: HTMLElement;
  authReason: HTMLElement;
  tokenForm: HTMLFormElement;
  tokenInput: HTMLInputElement;
  messages: HTMLElement;
  messagesEmpty: HTMLElement;
  composer: HTMLFormElement;
  input: HTMLTextAreaElement;
  send: HTMLButtonElement;
  abort: HTMLButtonElement;
  heartbeat: HTMLElement;
  heartbeatAge: HTMLElement;
  heartbeatAt: HTMLElement;
  watchdog: HTMLElement;
  watchdogDetail: HTMLElement;
  queue: { human: HTMLElement; event: HTMLElement; heartbeat: HTMLElement };
  processed: HTMLElement;
  queueLoad: HTMLElement;
  current: HTMLElement;
  sessions: HTMLElement;
  busSummary: HTMLElement;
  statusUpdated: HTMLElement;
  journal: HTMLElement;
  journalCount: HTMLElement;
  modelBanner: HTMLElement;
  /** Made here: the conversation so far (above the live turns), and the button for older pages. */
  history: HTMLElement;
  historyMore: HTMLButtonElement;
}

/** Filled by bindUi() before anything else runs. */
export const ui = {} as Ui;

export function bindUi(): void {
  Object.assign(ui, {
    conn: byId("conn", HTMLButtonElement),
    connText: byId("conn-text"),
    version: byId("version"),
    daemonState: byId("daemon-state"),
    auth: byId("auth"),
    authReason: byId("auth-reason"),
    tokenForm: byId("token-form", HTMLFormElement),
    tokenInput: byId("token-input", HTMLInputElement),
    messages: byId("messages"),
    messagesEmpty: byId("messages-empty"),
    composer: byId("composer", HTMLFormElement),
    input: byId("chat-input", HTMLTextAreaElement),
    send: byId("send", HTMLButtonElement),
    abort: byId("abort", HTMLButtonElement),
    heartbeat: byId("heartbeat"),
    heartbeatAge: byId("heartbeat-age"),
    heartbeatAt: byId("heartbeat-at"),
    watchdog: byId("watchdog"),
    watchdogDetail: byId("watchdog-detail"),
    queue: { human: byId("queue-human"), event: byId("queue-event"), heartbeat: byId("queue-heartbeat") },
    processed: byId("processed"),
    queueLoad: byId("queue-load"),
    current: byId("current"),
    sessions: byId("sessions"),
    busSummary: byId("bus-summary"),
    statusUpdated: byId("status-updated"),
    journal: byId("journal"),
    journalCount: byId("journal-count"),
    modelBanner: byId("model-banner"),
    historyMore: h("button", { type: "button", class: "history-more", hidden: true, "data-testid": "history-more", text: "show earlier turns" }),
    history: h("div", { class: "history", "data-testid": "history" }),
  } satisfies Ui);
  ui.messages.prepend(ui.historyMore, ui.history);
}
