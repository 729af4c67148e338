/**
 * The status panels from GET api/status (and the WebSocket's `status` frames): daemon state, queue
 * and load, the turn running now, heartbeat and watchdog, the bus's sessions, the model banner.
 */
import type { BusStatus, SessionInfo } from "../../bus/status-types.js";
import type { DaemonStatus, Priority } from "../../daemon/types.js";
import { api } from "./auth.js";
import { updateButtons } from "./buttons.js";
import { h, setText } from "./dom.js";
import { formatAge, fullTime } from "./format.js";
import { state } from "./state.js";
import { statusArrived } from "./ticker.js";
import { ui } from "./ui.js";

const PRIORITIES: readonly Priority[] = ["human", "event", "heartbeat"];

/** "oldest event 12s · 0.4 turns/s · 9.5 events/turn (last 60 s)": how the daemon keeps up. */
function loadLine(load: DaemonStatus["load"]): string {
  if (!load || typeof load !== "object") return "";
  const age = Number(load.oldestEventAgeMs);
  const oldest = load.oldestEventAgeMs === null || !Number.isFinite(age) ? "no event waiting" : `oldest event ${formatAge(age)}`;
  const perTurn = load.eventsPerTurn === null ? "no event turn" : `${Number(load.eventsPerTurn)} events/turn`;
  return `${oldest} · ${Number(load.turnsPerSecond)} turns/s · ${perTurn} (last ${Number(load.windowSeconds)} s)`;
}

function renderCurrent(daemon: DaemonStatus, daemonState: string): void {
  ui.current.replaceChildren();
  const current = daemon.current;
  ui.current.classList.toggle("busy", !!current && typeof current === "object");
  if (current && typeof current === "object") {
    const startedAt = Number(current.startedAt);
    ui.current.append(
      h("span", { class: "current-label", text: "now" }),
      h("span", { class: "pill channel", text: String(current.channel ?? "?") }),
      h("span", { class: "mono current-id", text: String(current.requestId ?? ""), title: String(current.requestId ?? "") }),
      h("span", { class: "muted age", dataset: { since: startedAt, suffix: "" }, text: formatAge(Date.now() - startedAt) }),
    );
  } else {
    ui.current.append(h("span", { class: "muted", text: daemonState === "idle" ? "idle — nothing running" : `no request running (${daemonState})` }));
  }
}

export function renderDaemon(daemon: DaemonStatus): void {
  state.daemon = daemon;
  const daemonState = String(daemon.state ?? "unknown");
  ui.daemonState.dataset.state = daemonState;
  setText(ui.daemonState, daemonState);
  const queue: Partial<Record<Priority, unknown>> = daemon.queue ?? {};
  for (const p of PRIORITIES) {
    const n = Number(queue[p] ?? 0);
    setText(ui.queue[p], Number.isFinite(n) ? String(n) : "?");
    ui.queue[p].parentElement?.classList.toggle("nonzero", n > 0);
  }
  setText(ui.processed, Number.isFinite(daemon.processed) ? `${daemon.processed} processed` : "");
  setText(ui.queueLoad, loadLine(daemon.load));
  renderCurrent(daemon, daemonState);
  updateButtons();
}

function renderHeartbeat(daemon: DaemonStatus | undefined, bus: BusStatus | undefined): void {
  const last = daemon?.lastHeartbeat ?? bus?.lastHeartbeat ?? null;
  const central = (Array.isArray(bus?.sessions) ? bus.sessions : []).find((s) => s.role === "central" && s.watchdog) ?? null;
  const watchdog = String(daemon?.watchdog ?? central?.watchdog ?? "unknown");
  const threshold = Number(central?.watchdogThresholdMs ?? NaN);
  if (typeof last === "number" && last > 0) {
    ui.heartbeatAge.dataset.since = String(last);
    ui.heartbeatAge.dataset.suffix = " ago";
    setText(ui.heartbeatAge, `${formatAge(Date.now() - last)} ago`);
    setText(ui.heartbeatAt, `last heartbeat · ${fullTime(last)}`);
    ui.heartbeat.classList.toggle("late", Number.isFinite(threshold) && Date.now() - last > threshold);
  } else {
    delete ui.heartbeatAge.dataset.since;
    setText(ui.heartbeatAge, "never");
    setText(ui.heartbeatAt, "no heartbeat recorded yet");
    ui.heartbeat.classList.remove("late");
  }
  ui.watchdog.dataset.state = watchdog;
  setText(ui.watchdog, watchdog);
  const detail: string[] = [];
  if (central) detail.push(`on ${central.id}`);
  if (Number.isFinite(threshold)) detail.push(`alarms after ${formatAge(threshold)} without a heartbeat`);
  setText(ui.watchdogDetail, detail.join(" · "));
}

function presenceOf(session: SessionInfo): "live" | "offline" | "dead" {
  if (session.live) return "live";
  return session.durable ? "offline" : "dead";
}

function sessionRow(s: SessionInfo): HTMLElement {
  const presence = presenceOf(s);
  const where = [s.host, s.pid ? `pid ${s.pid}` : "", s.cwd].filter(Boolean).join(" · ");
  return h(
    "tr",
    { class: `session presence-${presence}`, dataset: { session: String(s.id), presence }, title: where || undefined },
    h("td", { class: "mono session-id", text: String(s.id) }),
    h("td", { class: "role", text: String(s.role ?? "") }),
    h("td", {}, h("span", { class: `presence pill presence-${presence}`, dataset: { presence }, text: presence })),
    h("td", { class: `num pending${Number(s.pending) > 0 ? " nonzero" : ""}`, text: String(s.pending ?? 0) }),
    h("td", { class: "num opt", text: String(s.inFlight ?? 0) }),
    h("td", {
      class: "muted seen opt",
      dataset: s.lastSeen ? { since: s.lastSeen, suffix: " ago" } : {},
      text: s.lastSeen ? `${formatAge(Date.now() - s.lastSeen)} ago` : "—",
    }),
  );
}

/** "queue main: 3 waiting · 1 dead letter · Redis 7.2.4 · AOF everysec" */
function busSummary(bus: BusStatus): string {
  const parts: string[] = [];
  const known = new Set(bus.sessions.map((s) => s.id));
  for (const [queue, n] of Object.entries(bus.backlog ?? {})) if (!known.has(queue) && n > 0) parts.push(`queue ${queue}: ${n} waiting`);
  const dead = Number(bus.deadLetters);
  if (dead > 0) parts.push(`${dead} dead letter${dead === 1 ? "" : "s"}`);
  if (bus.redis) parts.push(`Redis ${bus.redis.version}${bus.redis.aof ? ` · AOF ${bus.redis.appendfsync}` : " · no AOF"}`);
  return parts.join(" · ");
}

function renderSessions(bus: BusStatus | undefined): void {
  ui.sessions.replaceChildren();
  const placeholder = (text: string) => h("tr", { class: "placeholder" }, h("td", { colspan: 6, text }));
  if (!bus || !Array.isArray(bus.sessions)) {
    ui.sessions.append(placeholder("bus unavailable"));
    setText(ui.busSummary, "");
    return;
  }
  if (!bus.sessions.length) ui.sessions.append(placeholder("no sessions registered"));
  for (const s of bus.sessions) ui.sessions.append(sessionRow(s));
  setText(ui.busSummary, busSummary(bus));
  ui.busSummary.classList.toggle("warn", Number(bus.deadLetters) > 0);
}

/** The daemon has no usable model: say so above everything, with the fix it sent. */
function renderModelBanner(daemon: DaemonStatus | undefined): void {
  const problem = daemon && typeof daemon.modelProblem === "string" ? daemon.modelProblem : "";
  ui.modelBanner.hidden = !problem;
  setText(ui.modelBanner, problem ? `⚠️ The agent cannot answer: ${problem}` : "");
}

export async function pollStatus(): Promise<void> {
  const status = ((await api("api/status")) ?? {}) as { daemon?: DaemonStatus; bus?: BusStatus };
  if (status.daemon) renderDaemon(status.daemon);
  renderModelBanner(status.daemon);
  renderHeartbeat(status.daemon, status.bus);
  renderSessions(status.bus);
  statusArrived();
}
