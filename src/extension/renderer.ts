/**
 * How pi's TUI shows a gateway message (pi.registerMessageRenderer): a compact line per event
 * (time, type, source, origin session) with its payload collapsed; expanded (pi's expand key) each
 * payload preview follows its line. Heartbeats and watchdog alarms get a line of their own. The LLM
 * is unaffected: it reads the message's content, the fenced prompt (event-prompt.ts).
 *
 * Everything shown comes from the message's details, checked again here (a session file is input
 * too); details that are not a gateway message's fall back to pi's default rendering.
 */
import type { MessageRenderer } from "@mariozechner/pi-coding-agent";
import { Box, Text } from "@mariozechner/pi-tui";
import { formatDuration } from "../config/duration.js";
import {
  clockOf,
  countOf,
  eventLabel,
  eventLine,
  eventSummariesOf,
  flat,
  parseGatewayDetails,
  type EventSummary,
  type GatewayMessageDetails,
} from "../host/gateway-message.js";

/** The theme calls the renderer uses (pi's Theme has them all). */
export interface RenderTheme {
  fg(color: "accent" | "dim" | "muted" | "warning" | "customMessageLabel" | "customMessageText", text: string): string;
  bold(text: string): string;
}

/** Lines of payload preview shown per event when expanded (the preview itself is capped at 2 KB). */
const PREVIEW_LINES_MAX = 40;

export const renderGatewayMessage: MessageRenderer = (message, options, theme) => {
  const details = parseGatewayDetails(message.details);
  if (!details) return undefined;
  const box = new Box(1, 0, (t) => theme.bg("customMessageBg", t));
  box.addChild(new Text(gatewayMessageLines(details, options.expanded, theme).join("\n"), 0, 0));
  return box;
};

/** The rendered text, line by line (no line holds a control character from the details). */
export function gatewayMessageLines(details: GatewayMessageDetails, expanded: boolean, theme: RenderTheme): string[] {
  if (details.kind === "alarm") {
    const missing = details.elapsedMs === undefined ? "" : ` for ${formatDuration(details.elapsedMs)}`;
    return [theme.fg("warning", `⚠ gateway watchdog: no heartbeat${missing}`)];
  }
  const events = eventSummariesOf(details);
  if (details.kind === "heartbeat") {
    const last = events.at(-1);
    return [theme.fg("dim", `💓 heartbeat ${last ? eventLine(last) : ""}`.trimEnd())];
  }
  // The events shown to the agent (`ids` also names heartbeats left out).
  const n = countOf(details);
  const head = theme.fg("customMessageLabel", theme.bold(`🔔 ${n} gateway event${n === 1 ? "" : "s"}`));
  const lines = [head];
  for (const event of events) {
    lines.push(`  ${theme.fg("accent", clockOf(event.ts))} ${theme.fg("customMessageText", eventLabel(event))}${collapsedNote(event, expanded, theme)}`);
    if (expanded && event.preview) lines.push(...previewLines(event).map((l) => `    ${theme.fg("muted", l)}`));
  }
  if (events.length < n) lines.push(theme.fg("dim", `  … and ${n - events.length} more (summed up in the message the agent reads)`));
  if (!expanded && events.some((e) => e.preview)) lines.push(theme.fg("dim", "  payloads collapsed: expand to see them"));
  return lines;
}

function collapsedNote(event: EventSummary, expanded: boolean, theme: RenderTheme): string {
  if (!event.preview && !event.payloadChars) return "";
  const chars = event.payloadChars ?? event.preview?.length ?? 0;
  return expanded ? "" : theme.fg("dim", ` [payload ${chars} chars]`);
}

function previewLines(event: EventSummary): string[] {
  const all = (event.preview ?? "").split("\n");
  const lines = all.slice(0, PREVIEW_LINES_MAX).map((line) => flat(line, 400));
  const cut = all.length > PREVIEW_LINES_MAX || event.payloadChars !== undefined;
  if (cut) lines.push(`… (cut: ${event.payloadChars ?? event.preview?.length ?? 0} characters in all)`);
  return lines;
}
