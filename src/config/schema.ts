/**
 * Every setting of the gateway, declared once: its class (and so its parser), default and help.
 * The environment, gateway.env (merged into the environment first) and the flags that mirror a
 * variable all go through these parsers; the README tables are checked against this list
 * (test/config/readme-settings.test.ts) and `pi-gateway config` prints it.
 */
import { z } from "zod";
import { DEFAULT_PREFIX } from "../protocol/keys.js";
import { EVENT_TYPE_PATTERN } from "../protocol/event.js";
import { count, decimal, duration, size, flag, httpUrl, json, list, oneOf, path, port, redisSeedList, redisUrl, text } from "./kinds.js";
import { redactUrl } from "./redis-url.js";

const HookSchema = z.strictObject({
  secret: z.string().min(1, "secret is empty").optional(),
  token: z.string().min(1, "token is empty").optional(),
  eventType: z.string().regex(EVENT_TYPE_PATTERN, "eventType is not an event type such as github.push").optional(),
});
const HOOK_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const HooksSchema = z
  .record(z.string(), HookSchema)
  .refine((hooks) => Object.keys(hooks).every((name) => HOOK_NAME.test(name)), "a hook name is letters, digits, _ . - (it is the URL's last part)");
export type HookSettings = z.infer<typeof HookSchema>;

const telegramId = z
  .string()
  .regex(/^-?\d{1,16}$/, "is not a numeric Telegram id")
  .transform(Number);
const queueMode = z
  .string()
  .regex(/^[^=\s]+\s*=\s*(followUp|steer|collect)$/, "is not channel=mode")
  .transform((pair) => pair.split("=").map((p) => p.trim()) as [string, "followUp" | "steer" | "collect"]);

/** A DNS name or IP literal as it appears in a Host header, lower-cased, without a port. */
const hostName = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]{1,253})$/, "is not a host name (no scheme, port or path)")
  .transform((host) => host.toLowerCase());
/** `scheme://host[:port]` exactly as a browser sends it in Origin. */
const webOrigin = z.string().transform((value, ctx) => {
  try {
    const url = new URL(value);
    if ((url.protocol === "http:" || url.protocol === "https:") && url.origin === value.replace(/\/$/, "").toLowerCase()) return url.origin;
  } catch {
    // reported below
  }
  ctx.addIssue({ code: "custom", message: "is not an origin like https://host[:port]" });
  return z.NEVER;
});

const BUS = {
  REDIS_URL: redisUrl(
    {
      group: "bus",
      docDefault: "the daemon's embedded Redis while it runs, else redis://127.0.0.1:6379",
      help: "redis:// or rediss:// (TLS), with user:password@ and /db",
    },
    redactUrl,
  ),
  REDIS_CLUSTER_NODES: redisSeedList(
    {
      group: "bus",
      docDefault: "(none)",
      help: "more seed nodes of a Redis Cluster besides REDIS_URL, comma-separated redis:// URLs (host and port used; REDIS_URL's user, password and TLS serve every node); read only when REDIS_URL is a cluster node",
    },
    redactUrl,
  ),
  GATEWAY_REDIS_CA_FILE: path({ group: "bus", docDefault: "(system CAs)", help: "PEM file of a private CA to trust for rediss://" }),
  GATEWAY_PREFIX: text({
    group: "bus",
    default: DEFAULT_PREFIX,
    pattern: /^[^\s{}]+$/,
    form: "a key prefix without blanks or braces",
    help: "key prefix; the default gives the original key names",
  }),
  // Covers any producer retry and lease recovery by a wide margin, without keeping ids forever.
  GATEWAY_DEDUP_WINDOW: duration({ group: "bus", default: "24h", min: 1, max: 365 * 86_400_000, help: "how long delivered / pushed ids are remembered" }),
  // ~100-140 bytes per id in Redis (uuid-sized ids): 100k ids is at most ~14 MB per set, a day at more
  // than one event per second per session, far beyond any producer's retry or a lease recovery.
  GATEWAY_DEDUP_MAX: count({ group: "bus", default: "100000", help: "most ids each dedup set keeps, the oldest dropped first" }),
  GATEWAY_LEASE: duration({ group: "bus", default: "15s", min: 1, help: "how long a claimed batch may stay unacknowledged" }),
  // 9 s: a session killed without a word (kill -9, a crash) stops being a push target within 10 s,
  // while a live one may miss two refreshes (a 6 s stall) before it counts as dead.
  GATEWAY_PRESENCE_TTL: duration({
    group: "bus",
    default: "9s",
    min: 500,
    help: "a session not seen for this long counts as dead: pushes to it are refused and it is reaped",
  }),
  // Each refresh is one Redis script per live session: a shorter interval multiplies the idle cost.
  GATEWAY_PRESENCE_INTERVAL: duration({
    group: "bus",
    docDefault: "a third of GATEWAY_PRESENCE_TTL (3s)",
    min: 100,
    help: "how often a session refreshes its presence (and reaps dead ones); must be shorter than GATEWAY_PRESENCE_TTL",
  }),
  GATEWAY_POLL_INTERVAL: duration({ group: "bus", default: "5s", min: 1, help: "safety-net drain when no notification arrives" }),
  GATEWAY_PUSH_RETRY: duration({ group: "bus", default: "30s", help: "how long a producer retries while Redis is unreachable" }),
  // Short: a one-shot command must say "Redis is not there" within 2 s of being started, and a
  // loopback or same-region Redis answers in milliseconds. A distant one may need more.
  GATEWAY_CONNECT_TIMEOUT: duration({ group: "bus", default: "1s", min: 1, help: "how long a connection attempt may go unanswered" }),
  // docs/cluster.md §5: a primary answers before its replica has the write; 1 makes every
  // acknowledgement wait for one replica (WAIT), so a failover cannot lose what a caller was told is done.
  GATEWAY_CLUSTER_WAIT_REPLICAS: count({
    group: "bus",
    default: "1",
    min: 0,
    max: 16,
    help: "on a Redis Cluster, replicas that must confirm each acknowledged write (push, claim, ack) before it counts as done; 0 = do not wait (a failover may lose acknowledged writes); ignored on a single Redis",
  }),
  GATEWAY_BACKLOG_CAP: count({ group: "bus", default: "10000", help: "pending events kept per session" }),
  GATEWAY_JOURNAL_CAP: count({
    group: "bus",
    default: "10000",
    help: "journal stream entries kept (a `delivered` entry holds up to 50 ids of one acknowledged batch)",
  }),
  GATEWAY_DEADLETTER_CAP: count({ group: "bus", default: "10000", help: "dead letters kept" }),
  GATEWAY_MAX_EVENT_BYTES: count({ group: "bus", default: "1048576", help: "larger entries are dead-lettered unread" }),
  GATEWAY_BATCH_SIZE: count({ group: "bus", default: "50", help: "most events per injected message" }),
  GATEWAY_DEFAULT_REDIS_URL: redisUrl(
    {
      group: "other",
      default: "redis://127.0.0.1:6379",
      help: "the address probed when REDIS_URL is unset, before the daemon starts its own Redis (for tests)",
    },
    redactUrl,
  ),
};

const SESSION = {
  // Lenient by design (README "Roles and ownership"): anything else is a warning and an automatic role.
  GATEWAY_ROLE: text({
    group: "session",
    docDefault: "decided at start",
    form: "central or satellite",
    help: "central receives everything; satellite only its own events",
  }),
  GATEWAY_ID: text({
    group: "session",
    docDefault: "gateway (central), pid-<pid> (satellite)",
    form: "a session id",
    help: "explicit session id; makes the session durable",
  }),
  GATEWAY_DELIVER_AS: oneOf(["followUp", "steer"], {
    group: "session",
    default: "followUp",
    help: "followUp: a batch waits for pi to be idle; steer: it joins the running turn",
  }),
  GATEWAY_ACCEPT_TIMEOUT: duration({ group: "session", default: "2s", min: 1, help: "how long pi may stay idle without recording a message it was sent" }),
  GATEWAY_HEARTBEAT_INTERVAL: duration({ group: "session", default: "15m", min: 1, help: "expected heartbeat interval" }),
  GATEWAY_HEARTBEAT_FILE: path({ group: "session", docDefault: "~/HEARTBEAT.md", help: "the checklist the agent reads on each heartbeat" }),
  GATEWAY_WATCHDOG_THRESHOLD: duration({ group: "session", min: 1, docDefault: "2 × interval (30m)", help: "missed-heartbeat alarm threshold (central only)" }),
  GATEWAY_WATCHDOG_CHECK: duration({ group: "session", min: 1, docDefault: "threshold / 10, at most 1m", help: "how often the watchdog looks" }),
  GATEWAY_LOG_FILE: path({ group: "session", docDefault: "(none)", help: "JSON log file of the extension" }),
  GATEWAY_DISABLED: flag({ group: "session", default: "0", help: "1 turns the extension off" }),
  GATEWAY_SESSION_ID: text({
    group: "session",
    docDefault: "(set by pi)",
    form: "a session id",
    help: "set by the extension for its child processes: the session `pi-gateway push` reports as origin",
  }),
};

const DAEMON = {
  GATEWAY_HOST: text({
    group: "daemon",
    default: "127.0.0.1",
    pattern: /^[^\s/]+$/,
    form: "a host name or IP address",
    help: "address the HTTP/WebSocket server listens on (--host)",
  }),
  GATEWAY_PORT: port({ group: "daemon", default: "8787", help: "its port (--port); 0 any free port" }),
  GATEWAY_TOKEN: text({ group: "daemon", docDefault: "(the token file)", secret: true, help: "the gateway token (WebSocket, POST /events, webhooks)" }),
  GATEWAY_TOKEN_FILE: path({ group: "daemon", docDefault: "~/.config/pi-gateway/token", help: "where the daemon keeps (and creates) its token" }),
  GATEWAY_OWNER: text({
    group: "daemon",
    docDefault: "the first allowed Telegram id",
    pattern: /^[a-z]+:.+$/,
    form: "channel:address, e.g. telegram:<chat id>",
    help: "where replies to events, heartbeats and alarms go",
  }),
  GATEWAY_HOOKS: json(HooksSchema, {
    group: "daemon",
    docDefault: "(none)",
    secret: true,
    form: '{"<name>":{"secret":"<random>"}} (secret, token, eventType)',
    help: "webhooks at POST /hooks/<name>",
  }),
  GATEWAY_QUEUE_MODES: list(queueMode, {
    group: "daemon",
    docDefault: "followUp for every channel",
    form: "channel=mode,… (modes: followUp, steer, collect)",
    help: "how prompts of each channel queue",
  }),
  GATEWAY_TURN_TIMEOUT: duration({ group: "daemon", default: "10m", min: 1, help: "a turn running longer is aborted" }),
  GATEWAY_TURN_RETRIES: count({ group: "daemon", default: "5", min: 0, max: 1000, help: "how often a transiently failed turn is tried again; 0 never" }),
  GATEWAY_TURN_RETRY_BACKOFF: duration({ group: "daemon", default: "2s", help: "wait before the first retry, doubling, at most 5m" }),
  GATEWAY_SHUTDOWN_GRACE: duration({ group: "daemon", default: "30s", help: "how long shutdown lets the current turn finish" }),
  GATEWAY_AGING: duration({ group: "daemon", default: "60s", help: "a command waiting longer goes before fresher higher-priority ones" }),
  GATEWAY_COLLECT_WINDOW: duration({ group: "daemon", default: "2s", help: "prompts of a collect channel within this window merge into one" }),
  GATEWAY_ALLOWED_HOSTS: list(hostName, {
    group: "daemon",
    docDefault: "loopback names on a loopback bind; any otherwise",
    form: "host names, comma-separated (e.g. gw.tailnet.ts.net)",
    help: "Host headers the daemon answers besides its own loopback names (DNS rebinding guard)",
  }),
  GATEWAY_ALLOWED_ORIGINS: list(webOrigin, {
    group: "daemon",
    docDefault: "the page's own origin",
    form: "origins, comma-separated (e.g. https://gw.example.com)",
    help: "browser origins whose pages may open the WebSocket besides the daemon's own",
  }),
  GATEWAY_PROMPTS_PER_CLIENT: count({ group: "daemon", default: "20", help: "prompts one client (a socket, a chat) may have queued; more are refused" }),
  GATEWAY_PROMPTS_PER_CHANNEL: count({ group: "daemon", default: "200", help: "prompts one channel may have queued; more are refused" }),
  GATEWAY_HOOK_CONCURRENCY: count({ group: "daemon", default: "8", help: "webhook requests read at once before their signature is checked; more get 503" }),
  GATEWAY_WS_RESUME_GRACE: duration({
    group: "daemon",
    default: "10m",
    min: 1,
    help: "how long a disconnected WebSocket client's replies are kept for its reconnect",
  }),
  GATEWAY_TURN_MAX_EVENTS: count({
    group: "daemon",
    default: "5000",
    help: "most events one batched event turn carries (past GATEWAY_TURN_SHOWN_EVENTS they are summed up; each is still recorded by id)",
  }),
  GATEWAY_TURN_MAX_BYTES: count({ group: "daemon", default: "262144", help: "most prompt bytes one batched event turn carries" }),
  GATEWAY_TURN_SHOWN_EVENTS: count({
    group: "daemon",
    default: "50",
    help: "events a turn shows the agent one by one (the oldest); the rest are summed up: counts by type and source, the id range",
  }),
};

/** pi's default for a model without a contextWindow; below MIN a system prompt and tools nearly fill it. */
export const MIN_CONTEXT_WINDOW = 4_096;

const CONTEXT = {
  GATEWAY_CONTEXT_WINDOW: count({
    group: "context",
    min: MIN_CONTEXT_WINDOW,
    docDefault: "the model's contextWindow (128000 when its metadata has none)",
    help: "the window in tokens to plan for",
  }),
  GATEWAY_COMPACT_AT: decimal({
    group: "context",
    default: "0.7",
    min: 0.3,
    max: 0.95,
    example: "0.7",
    help: "the fraction of the window at which the conversation is compacted",
  }),
  // Read by main's session rotation (daemon/session-rotation.ts); 8 MiB is hours of a busy session
  // and a moment to load; below 64 KiB a file would be continued after nearly every compaction.
  GATEWAY_SESSION_FILE_MAX: size({
    group: "context",
    default: "8MiB",
    min: 64 * 1024,
    minText: "64KiB",
    help: "after a compaction, a larger session file is continued in a new one",
  }),
};

const TELEGRAM = {
  TELEGRAM_BOT_TOKEN: text({ group: "telegram", docDefault: "(none: no Telegram)", secret: true, help: "the bot's token from @BotFather" }),
  TELEGRAM_ALLOWED_USERS: list(telegramId, {
    group: "telegram",
    docDefault: "(nobody)",
    form: "numeric user ids separated by commas",
    help: "users whose messages are prompts",
  }),
  TELEGRAM_ALLOWED_CHATS: list(telegramId, {
    group: "telegram",
    docDefault: "(none)",
    form: "numeric chat ids separated by commas",
    help: "chats whose messages are prompts",
  }),
  TELEGRAM_API_ROOT: httpUrl({ group: "telegram", docDefault: "https://api.telegram.org", help: "the Bot API server (a local one, or a fake in tests)" }),
  GATEWAY_FILES_DIR: path({
    group: "telegram",
    docDefault: "~/.config/pi-gateway/files",
    help: "where received documents, voice and audio are saved; replies may send files from here",
  }),
  // A photo travels base64 in its queued command (in Redis) and in the model request: kept small.
  GATEWAY_TELEGRAM_PHOTO_MAX: size({
    group: "telegram",
    default: "5MiB",
    min: 1024,
    minText: "1KiB",
    help: "a larger photo is refused (the sender is told)",
  }),
  // The Bot API's getFile serves at most 20 MB; a local Bot API server serves more.
  GATEWAY_TELEGRAM_FILE_MAX: size({
    group: "telegram",
    default: "20MiB",
    min: 1024,
    minText: "1KiB",
    help: "a larger document, voice message or audio file is refused (the sender is told)",
  }),
  TELEGRAM_PAIRING: flag({ group: "telegram", default: "1", help: "unknown users writing privately get a pairing code; 0: they get nothing" }),
  GATEWAY_PAIRING_TTL: duration({ group: "telegram", default: "1h", min: 60_000, max: 7 * 86_400_000, help: "how long a pairing code stays valid" }),
  GATEWAY_PAIRING_MAX: count({
    group: "telegram",
    default: "20",
    max: 1000,
    help: "most pairing requests waiting at once; further unknown users are told to try later",
  }),
};

const OTHER = {
  GATEWAY_ENV_FILE: path({ group: "other", docDefault: "~/.config/pi-gateway/gateway.env", help: "the settings file every command reads; none: no file" }),
  GATEWAY_LOG_FORMAT: oneOf(["json", "pretty"], { group: "other", caseless: true, docDefault: "pretty on a terminal, json otherwise", help: "log format" }),
  GATEWAY_LOG_LEVEL: oneOf(["trace", "debug", "info", "warn", "error", "fatal", "silent"], {
    group: "other",
    caseless: true,
    default: "info",
    help: "log level",
  }),
};

export const SETTINGS = { ...BUS, ...SESSION, ...DAEMON, ...CONTEXT, ...TELEGRAM, ...OTHER };

export type SettingName = keyof typeof SETTINGS;

/** The resolved configuration: every setting's value (its default when unset). */
export type GatewayConfig = { [K in SettingName]: (typeof SETTINGS)[K]["defaultValue"] };

export function isSettingName(name: string): name is SettingName {
  return Object.hasOwn(SETTINGS, name);
}

/** Names of the settings of some groups, for --help texts. */
export function settingNames(...groups: Array<(typeof SETTINGS)[SettingName]["group"]>): SettingName[] {
  return (Object.keys(SETTINGS) as SettingName[]).filter((name) => groups.includes(SETTINGS[name].group));
}
