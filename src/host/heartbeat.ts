/**
 * The heartbeat conversation: what the agent is asked on each heartbeat, and how its "nothing to
 * report" answer (HEARTBEAT_OK) is recognised so it is never forwarded to a human channel.
 */

export const HEARTBEAT_OK = "HEARTBEAT_OK";

export { defaultHeartbeatFile } from "../config/env-file.js";

export function heartbeatInstruction(file: string): string {
  return `Heartbeat: read ${file} and work through its checklist. If nothing needs attention, reply exactly ${HEARTBEAT_OK} and nothing else.`;
}

/** How much text may accompany HEARTBEAT_OK for the reply still to count as "nothing to report". */
export const HEARTBEAT_ACK_MAX_REMAINDER = 300;

/**
 * True when a reply is a heartbeat acknowledgement: HEARTBEAT_OK at its start or end (markdown
 * emphasis or code marks around it allowed) with at most a short remainder. Such replies are
 * suppressed; anything longer is real news and goes out.
 */
export function isHeartbeatAck(reply: string, maxRemainder = HEARTBEAT_ACK_MAX_REMAINDER): boolean {
  const text = reply.trim();
  const token = /^[*_`~\s]*HEARTBEAT_OK[*_`~\s.!]*/;
  const tokenAtEnd = /[*_`~\s]*HEARTBEAT_OK[*_`~\s.!]*$/;
  let remainder: string;
  if (token.test(text)) remainder = text.replace(token, "");
  else if (tokenAtEnd.test(text)) remainder = text.replace(tokenAtEnd, "");
  else return false;
  return remainder.trim().length <= maxRemainder;
}

export const HEARTBEAT_TEMPLATE = `# Heartbeat Checklist

The gateway sends a heartbeat on a schedule. On each one, go through this list.
If nothing needs attention, reply exactly HEARTBEAT_OK (that reply is never forwarded to you).

## System Health
- [ ] Redis is reachable (\`pi-gateway status\`)
- [ ] Background worker is responding
- [ ] No stuck jobs, no growing dead-letter list (\`pi-gateway dead-letters\`)

## Pending Work
- [ ] Check inbox for unprocessed items

If nothing needs attention, reply HEARTBEAT_OK.
`;
