import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { parseSetting } from "../../config/resolve.js";
import { createEvent, InvalidEventError } from "../../protocol/event.js";
import { resolveBusOptions } from "../../config/bus-options.js";
import { action, globalOptions, oneLine, print, printJson, UsageError, withBusRetrying } from "../context.js";

interface PushFlags {
  source: string;
  payload?: string;
  target?: string;
  origin?: string;
  id?: string;
  retry?: string;
}

export function registerPush(program: Command): void {
  program
    .command("push")
    .description("push an event to the gateway (fanned out to the sessions that should see it)")
    .argument("<type>", "event type, a dotted name such as download.complete")
    .option("-s, --source <source>", "who produced it", "cli")
    .option("-p, --payload <json>", "payload as JSON, @file to read a file, or - for stdin")
    .option("-t, --target <session>", "also deliver to this session (must be registered)")
    .option("-o, --origin <session>", "session whose job produced it (default: $GATEWAY_SESSION_ID)")
    .option("--id <id>", "event id (default: a new UUID); pushing the same id twice delivers once")
    .option("--retry <duration>", "keep retrying this long while Redis is unreachable (default: $GATEWAY_PUSH_RETRY or 30s)")
    .addHelpText(
      "after",
      `
Examples:
  pi-gateway push download.complete --payload '{"file":"video.mp4"}'
  pi-gateway push build.failed --source ci --payload @report.json --target gateway
  echo '{"ok":true}' | pi-gateway push job.done --payload -`,
    )
    .action(
      action(async (type: string, flags: PushFlags, command: Command) => {
        const options = globalOptions(command);
        const payload = readPayload(flags.payload);
        let event;
        try {
          event = createEvent(type, flags.source, payload, {
            id: flags.id,
            target: flags.target,
            originSession: flags.origin ?? parseSetting("GATEWAY_SESSION_ID", process.env.GATEWAY_SESSION_ID),
          });
        } catch (error) {
          if (error instanceof InvalidEventError) throw new UsageError(`invalid event: ${error.message}`);
          throw error;
        }
        // Redis being down when the push starts is covered by the same retry window as a failure mid-push.
        const window = flags.retry
          ? { ms: parseSetting("GATEWAY_PUSH_RETRY", flags.retry, "--retry"), from: "--retry" }
          : { ms: resolveBusOptions().pushRetryMs, from: "GATEWAY_PUSH_RETRY" };
        const result = await withBusRetrying(options, window, (bus, retry) => bus.pushWithRetry(event, {}, retry.remainingMs, retry.onWait));
        const duplicate = result.status === "duplicate";
        if (options.json) {
          const { status, sessions, undrained, attempts } = result;
          printJson({ status, duplicate, id: event.id, type: event.type, sessions, undrained, attempts });
        } else if (duplicate) {
          print(`already pushed: event ${event.id} (same id seen within the dedup window), not delivered again`);
        } else {
          print(`pushed ${event.type} ${event.id} -> ${result.sessions.join(", ")}`);
        }
        // Still a success (the event is safe in its queue), but the user must not wait for it in vain.
        for (const queue of result.undrained) {
          process.stderr.write(`pi-gateway: queued for '${oneLine(queue)}': no live session drains it now; it will be delivered when one starts\n`);
        }
      }),
    );
}

function readPayload(spec: string | undefined): unknown {
  if (spec === undefined) return {};
  let text = spec;
  let where = "--payload";
  if (spec === "-") {
    text = readFileSync(0, "utf8");
    where = "stdin";
  } else if (spec.startsWith("@")) {
    where = spec.slice(1);
    try {
      text = readFileSync(where, "utf8");
    } catch (error) {
      throw new UsageError(`cannot read payload file ${where}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`payload from ${where} is not valid JSON: ${(error as Error).message}`);
  }
}
