/**
 * The Telegram pairing panel: requests waiting for approval (code, user, expiry) with an Approve
 * button, and the paired users with Revoke. GET api/pairing with the status poll; the buttons POST
 * api/pairing/approve and api/pairing/revoke, and any refusal is shown in the panel.
 */
import { apiPost, api } from "./auth.js";
import { byId, h, setText } from "./dom.js";
import { formatAge } from "./format.js";

interface PairingUser {
  userId: string;
  username?: string;
  name?: string;
}
interface PairingRequest extends PairingUser {
  code: string;
  createdAt: number;
  expiresAt: number;
}
interface ApprovedUser extends PairingUser {
  approvedAt: number;
}

function who(user: PairingUser): string {
  return [user.username ? `@${user.username}` : "", user.name ?? ""].filter(Boolean).join(" ") || user.userId;
}

function note(text: string, kind: "ok" | "error"): void {
  const line = byId("pairing-note");
  line.dataset.kind = kind;
  setText(line, text);
}

async function act(path: string, body: unknown, done: (answer: unknown) => string): Promise<void> {
  try {
    note(done(await apiPost(path, body)), "ok");
  } catch (error) {
    note(error instanceof Error ? error.message : String(error), "error");
  }
  await pollPairing().catch(() => undefined);
}

function button(label: string, testid: string, onClick: () => void): HTMLButtonElement {
  const node = h("button", { type: "button", class: "small-button", text: label, "data-testid": testid });
  node.addEventListener("click", onClick);
  return node;
}

function requestRow(request: PairingRequest, now: number): HTMLElement {
  const approve = button("Approve", `approve-${request.code}`, () => {
    void act("api/pairing/approve", { code: request.code }, () => `Paired ${who(request)}: their next message reaches the agent.`);
  });
  const minutes = Math.max(0, Math.round((request.expiresAt - now) / 60_000));
  return h(
    "tr",
    { dataset: { code: request.code } },
    h("td", { class: "mono", text: request.code }),
    h("td", { text: who(request), title: request.userId }),
    h("td", { class: "opt", text: `${minutes}m left` }),
    h("td", {}, approve),
  );
}

function approvedRow(user: ApprovedUser): HTMLElement {
  const revoke = button("Revoke", `revoke-${user.userId}`, () => {
    void act("api/pairing/revoke", { userId: user.userId }, () => `Revoked ${who(user)}.`);
  });
  return h(
    "tr",
    {},
    h("td", { class: "mono", text: user.userId }),
    h("td", { text: who(user) }),
    h("td", { class: "opt", text: `${formatAge(Date.now() - user.approvedAt)} ago` }),
    h("td", {}, revoke),
  );
}

export async function pollPairing(): Promise<void> {
  const answer = (await api("api/pairing")) as { requests?: PairingRequest[]; approved?: ApprovedUser[] } | null;
  const requests = Array.isArray(answer?.requests) ? answer.requests : [];
  const approved = Array.isArray(answer?.approved) ? answer.approved : [];
  const now = Date.now();
  const waiting = byId("pairing-requests");
  waiting.replaceChildren(
    ...(requests.length
      ? requests.map((r) => requestRow(r, now))
      : [h("tr", { class: "placeholder" }, h("td", { colspan: "4", text: "no pairing requests" }))]),
  );
  const paired = byId("pairing-approved");
  paired.replaceChildren(
    ...(approved.length ? approved.map(approvedRow) : [h("tr", { class: "placeholder" }, h("td", { colspan: "4", text: "no paired users" }))]),
  );
}
