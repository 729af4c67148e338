/**
 * Where the audited gateway keeps its settings and token, for a given environment and home: the same
 * lookups the gateway itself uses (config/env-file.ts, daemon/config.ts), so the audit reads what runs.
 */
export { gatewayConfigDir as configDir, gatewayEnvFile as auditEnvFile } from "../config/env-file.js";
export { tokenFile as auditTokenFile } from "../daemon/config.js";
