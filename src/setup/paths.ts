/** Where setup puts things, and where doctor looks for them. One place, so both agree. */
import { join } from "node:path";
import { defaultHeartbeatFile } from "../config/env-file.js";
import { gatewayConfigDir } from "../config/env-file.js";
import { parseSetting } from "../config/resolve.js";

export interface SetupPaths {
  home: string;
  /** pi's agent dir: $PI_CODING_AGENT_DIR or ~/.pi/agent. */
  piAgentDir: string;
  piSettings: string;
  /** Our own config dir (0700): the environment file the services read. */
  configDir: string;
  envFile: string;
  logDir: string;
  heartbeatFile: string;
}

export const AGENT_SERVICE_LABEL = "dev.pi-gateway.agent";
export const HEARTBEAT_SERVICE_LABEL = "dev.pi-gateway.heartbeat";

export function setupPaths(home: string, env: Record<string, string | undefined> = process.env): SetupPaths {
  const piAgentDir = env.PI_CODING_AGENT_DIR || join(home, ".pi", "agent");
  const configDir = gatewayConfigDir(home);
  return {
    home,
    piAgentDir,
    piSettings: join(piAgentDir, "settings.json"),
    configDir,
    envFile: join(configDir, "gateway.env"),
    logDir: join(home, ".local", "state", "pi-gateway", "logs"),
    heartbeatFile: parseSetting("GATEWAY_HEARTBEAT_FILE", env.GATEWAY_HEARTBEAT_FILE) ?? defaultHeartbeatFile(home),
  };
}

/** Service file locations per manager (as written by src/setup/service). */
export function serviceFilePath(home: string, manager: "launchd" | "systemd", label: string): string {
  return manager === "launchd" ? join(home, "Library", "LaunchAgents", `${label}.plist`) : join(home, ".config", "systemd", "user", `${label}.service`);
}
