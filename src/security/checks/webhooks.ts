/** Each webhook's own secret (HMAC) or token, and how guessable it is. */
import { checkSetting } from "../../config/resolve.js";
import type { Env, Finding } from "../types.js";

const MIN_HOOK_SECRET_LENGTH = 16;

export function checkWebhooks(env: Env): Finding[] {
  const base = { id: "webhooks" as const };
  const { value: hooks, problem } = checkSetting("GATEWAY_HOOKS", env.GATEWAY_HOOKS);
  if (problem)
    return [
      {
        ...base,
        title: "Webhooks",
        status: "fail",
        detail: `${problem}: the daemon refuses to start`,
        fix: `fix it, e.g. GATEWAY_HOOKS='{"github":{"secret":"<random>"}}'`,
      },
    ];
  if (!hooks) return [{ ...base, title: "Webhooks", status: "skip", detail: "no webhooks configured (GATEWAY_HOOKS unset)" }];
  const entries = Object.entries(hooks);
  if (!entries.length) return [{ ...base, title: "Webhooks", status: "skip", detail: "GATEWAY_HOOKS is empty" }];
  const newSecret = "openssl rand -hex 32";
  return entries.map(([name, value]): Finding => {
    const title = `Webhook "${name}"`;
    const { secret, token } = value;
    if (!secret && !token) {
      return {
        ...base,
        title,
        status: "fail",
        detail: `POST /hooks/${name} has no secret (HMAC) or token of its own: only the gateway token opens it, so its sender would need the master key to your agent (WebSocket prompts included)`,
        fix: `give it an HMAC secret: "${name}":{"secret":"<${newSecret}>"} in GATEWAY_HOOKS, and the same secret in the sender's webhook settings`,
      };
    }
    const short = [
      secret && secret.length < MIN_HOOK_SECRET_LENGTH ? `the secret is ${secret.length} characters` : "",
      token && token.length < MIN_HOOK_SECRET_LENGTH ? `the token is ${token.length} characters` : "",
    ].filter(Boolean);
    if (short.length) {
      return {
        ...base,
        title,
        status: "warn",
        detail: `${short.join(", ")} (fewer than ${MIN_HOOK_SECRET_LENGTH}): guessable`,
        fix: `use a random value: ${newSecret}`,
      };
    }
    if (!secret) {
      return {
        ...base,
        title,
        status: "warn",
        detail: `bearer token only: it travels with every request and a captured request can be replayed or altered`,
        fix: `prefer an HMAC secret ("secret" in GATEWAY_HOOKS; the sender signs each body with X-Hub-Signature-256, the secret never travels)`,
      };
    }
    return { ...base, title, status: "pass", detail: `HMAC secret (${secret.length} characters)${token ? " and a bearer token" : ""}` };
  });
}
