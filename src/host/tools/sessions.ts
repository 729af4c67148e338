/**
 * gateway_send and gateway_sessions: talk to the other live sessions (a satellite to the central
 * and back). A message is a `session.message` event pushed to that session alone, with this
 * session as its origin, so the receiver sees who wrote and can answer with gateway_send.
 */
import { Type } from "typebox";
import type { SessionInfo } from "../../bus/bus.js";
import { formatDuration } from "../../config/duration.js";
import { createEvent, SessionIdSchema } from "../../protocol/event.js";
import { quoteInput } from "../../util/text.js";
import { checked, ToolFailure, withGateway, type GatewayToolContext } from "./context.js";
import type { GatewayTool } from "./pi-tool.js";

/** The event type a gateway_send delivers. */
export const SESSION_MESSAGE_TYPE = "session.message";
export const SESSION_MESSAGE_MAX = 4_000;

const sendParameters = Type.Object({
  session: Type.String({ description: "The id of the live session to write to (gateway_sessions lists them; the central is usually `gateway`)." }),
  text: Type.String({ description: `The message (1-${SESSION_MESSAGE_MAX} characters).`, maxLength: SESSION_MESSAGE_MAX }),
});

export interface SendDetails {
  eventId: string;
  to: string;
  from: string;
}

export function sendTool(ctx: GatewayToolContext): GatewayTool<typeof sendParameters, SendDetails> {
  return {
    name: "gateway_send",
    label: "Message a session",
    description:
      "Send a message to another live pi session of this gateway (e.g. from a satellite to the central `gateway`, or back). It arrives there as a " +
      "`session.message` gateway event whose origin session is this one; to answer a `session.message` you received, gateway_send to its origin " +
      "session. An unknown or no longer live session is an error naming the live ones.",
    promptSnippet: "gateway_send: message another live gateway session (answer a session.message to its origin session)",
    parameters: sendParameters,
    async run(params) {
      const to = params.session.trim();
      if (!SessionIdSchema.safeParse(to).success) throw new ToolFailure(`invalid session id ${quoteInput(params.session)} (gateway_sessions lists them)`);
      const text = checked(() => checkMessageText(params.text));
      return withGateway(ctx, `send to session ${to}`, async (bus, from) => {
        if (to === from) throw new ToolFailure(`"${to}" is this session: gateway_send writes to another one (gateway_sessions lists them)`);
        const sessions = await bus.sessions();
        const target = sessions.find((s) => s.id === to);
        if (!target?.live) {
          const live = sessions.filter((s) => s.live && s.id !== from).map((s) => s.id);
          const why = target ? `session "${to}" is not live (its presence lapsed; it is down)` : `unknown session "${to}"`;
          throw new ToolFailure(`${why}; live sessions: ${live.length ? live.join(", ") : "none besides this one"}`);
        }
        const event = createEvent(SESSION_MESSAGE_TYPE, `session:${from}`, { from, text }, { target: to, originSession: from });
        await bus.push(event, { target: to, originSession: from, exclusive: true });
        return { text: `sent to ${to} (event ${event.id}); an answer comes back as a session.message from ${to}`, details: { eventId: event.id, to, from } };
      });
    },
  };
}

function checkMessageText(text: string): string {
  if (!text.trim()) throw new Error("the message's text is empty");
  if (text.length > SESSION_MESSAGE_MAX) throw new Error(`the message's text is ${text.length} characters, over ${SESSION_MESSAGE_MAX}`);
  return text;
}

const sessionsParameters = Type.Object({});

export function sessionsTool(ctx: GatewayToolContext): GatewayTool<typeof sessionsParameters, { sessions: SessionInfo[]; self: string }> {
  return {
    name: "gateway_sessions",
    label: "List sessions",
    description:
      "List the gateway's sessions: id, role (central / satellite), whether it is live, who runs it (daemon or pi, pid, host) and its backlog " +
      "(events waiting and in flight). gateway_send writes to a live one.",
    promptSnippet: "gateway_sessions: list the gateway sessions with role, owner, presence and backlog",
    parameters: sessionsParameters,
    async run() {
      const { sessions, self, now } = await withGateway(ctx, "list the sessions", async (bus, self) => ({
        sessions: await bus.sessions(),
        self,
        now: await bus.serverTime(),
      }));
      if (!sessions.length) return { text: "no sessions registered", details: { sessions, self } };
      return { text: sessions.map((s) => describeSession(s, self, now)).join("\n"), details: { sessions, self } };
    },
  };
}

function describeSession(s: SessionInfo, self: string, now: number): string {
  const owner = [s.kind ?? "?", s.pid ? `pid ${s.pid}` : "", s.host ? `on ${s.host}` : ""].filter(Boolean).join(" ");
  const presence = s.live ? "live" : `down${s.lastSeen ? ` (last seen ${formatDuration(Math.max(now - s.lastSeen, 0))} ago)` : ""}`;
  const me = s.id === self ? " (this session)" : "";
  return `${s.id}${me}: ${s.role}${s.durable ? ", durable" : ""}, ${presence}, ${owner}, backlog ${s.pending} waiting, ${s.inFlight} in flight`;
}
