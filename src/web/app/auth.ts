/**
 * The gateway token and whether the daemon accepts it. The token comes from the fragment
 * (#token=...), the query (?token=...) or this tab's sessionStorage, and is taken out of the
 * address bar once read so it does not end up in history or screenshots. `api()` is every GET of
 * /api/*: a 401 or 403 turns the page to its "unauthorized" state.
 */
import { setText } from "./dom.js";
import { updateButtons } from "./buttons.js";
import { state } from "./state.js";
import { ui } from "./ui.js";

const TOKEN_KEY = "pi-gateway.token";
const NO_TOKEN = "No token given. Open the page with #token=… in the address, or paste the token below.";

/** A request the daemon refused (or that was not made for want of a token). */
export class AuthError extends Error {}

function storage(): Storage | null {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

/** The token from the address (then removed from it) or from this tab's storage; "" without one. */
export function readToken(): string {
  const hash = new URLSearchParams(location.hash.replace(/^#/, ""));
  const query = new URLSearchParams(location.search);
  const fromUrl = hash.get("token") || query.get("token");
  if (!fromUrl) return storage()?.getItem(TOKEN_KEY) ?? "";
  saveToken(fromUrl);
  hash.delete("token");
  query.delete("token");
  const search = query.toString();
  const fragment = hash.toString();
  history.replaceState(null, "", location.pathname + (search ? `?${search}` : "") + (fragment ? `#${fragment}` : ""));
  return fromUrl;
}

export function saveToken(token: string): void {
  state.token = token;
  storage()?.setItem(TOKEN_KEY, token);
}

const unauthorizedListeners: Array<() => void> = [];

/** Runs `listener` when the daemon refuses the token (to stop polling, close the WebSocket). */
export function onUnauthorized(listener: () => void): void {
  unauthorizedListeners.push(listener);
}

/** Shows why the token was refused and asks for another; does nothing when already refused. */
export function setUnauthorized(reason: string): void {
  if (state.authorized === false) return;
  state.authorized = false;
  for (const listener of unauthorizedListeners) listener();
  document.body.classList.add("unauthorized");
  setText(ui.authReason, reason);
  ui.auth.hidden = false;
  ui.tokenInput.focus();
  updateButtons();
}

function setAuthorized(): void {
  if (state.authorized === true) return;
  state.authorized = true;
  document.body.classList.remove("unauthorized");
  ui.auth.hidden = true;
  updateButtons();
}

/** Forgets a refusal (a new token was pasted): the next request decides again. */
export function resetAuthorization(): void {
  state.authorized = null;
  document.body.classList.remove("unauthorized");
  ui.auth.hidden = true;
}

/** False (and the page asks for a token) when there is none. */
export function haveToken(): boolean {
  if (state.token) return true;
  setUnauthorized(NO_TOKEN);
  return false;
}

/** GET an /api/* path (relative to the page) with the token; the parsed JSON body. */
export async function api(path: string): Promise<unknown> {
  if (!haveToken()) throw new AuthError("no token");
  const response = await fetch(path, {
    headers: { Authorization: `Bearer ${state.token}`, Accept: "application/json" },
    cache: "no-store",
  });
  if (response.status === 401 || response.status === 403) {
    setUnauthorized(`The daemon refused the token (HTTP ${response.status}). Check it and paste it again.`);
    throw new AuthError(`HTTP ${response.status}`);
  }
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  setAuthorized();
  return response.json();
}

/** POST JSON to an /api/* path with the token; the parsed answer, or an Error carrying the daemon's own message. */
export async function apiPost(path: string, body: unknown): Promise<unknown> {
  if (!haveToken()) throw new AuthError("no token");
  const response = await fetch(path, {
    method: "POST",
    headers: { Authorization: `Bearer ${state.token}`, Accept: "application/json", "Content-Type": "application/json" },
    body: JSON.stringify(body),
    cache: "no-store",
  });
  if (response.status === 401 || response.status === 403) {
    setUnauthorized(`The daemon refused the token (HTTP ${response.status}). Check it and paste it again.`);
    throw new AuthError(`HTTP ${response.status}`);
  }
  const answer = (await response.json().catch(() => null)) as { error?: unknown } | null;
  if (!response.ok) throw new Error(typeof answer?.error === "string" ? answer.error : `${path}: HTTP ${response.status}`);
  return answer;
}
