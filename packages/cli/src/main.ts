import { asyncCommand } from "./async.js";
import { unreachableMessage } from "./config.js";
import { deploy } from "./deploy.js";
import { images } from "./images.js";
import { invoke } from "./invoke.js";
import { invoker } from "./invoker.js";
import { logs, metrics } from "./logs.js";
import { aliasCommand, layerCommand, versionCommand } from "./release.js";
import { publish } from "./publish.js";
import { triggerCommand } from "./trigger.js";
import { up } from "./up.js";

const USAGE = `usage: nimbus <command> [options]

commands:
  up                     start the whole platform on this machine (what npm start runs)
  deploy [dir]           create or update a function from a directory (nimbus.yaml or flags),
                         or from a container image (--image <reference>)
  invoke <svc>/<fn>      call a function and print its response (--async: queue it, print its id)
  async get|list|stop    what happened to asynchronous invocations; stop one
  logs <svc>/<fn>        a function's output lines (--request-id, --since 10m, --keyword, -f to follow)
  metrics <svc>/<fn>     its invocations, errors, cold starts and durations per minute
  version publish|list|delete   snapshot a service as its next version
  alias set|list|delete  point an alias at a version, with an optional canary weight
  layer publish|list     publish a directory as a layer version (prints its ARN)
  trigger create|list|delete   timers, NATS subjects, object-storage events, HTTP
  publish <subject>      publish (or --request) a message on the platform's NATS
  images                 the container images each invoker node has cached (size, last use)
  invoker                start one more invoker node on the same NATS and Redis (npm run invoker)

'nimbus <command> --help' tells more. The API endpoint and key come from NIMBUS_ENDPOINT,
NIMBUS_ACCESS_KEY_ID and NIMBUS_ACCESS_KEY_SECRET, or from what 'npm start' wrote in .nimbus/.
`;

/** The \`nimbus\` command line. */
export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "up":
        return await up(rest);
      case "deploy":
        return await deploy(rest);
      case "invoke":
        return await invoke(rest);
      case "invoker":
        return await invoker(rest);
      case "logs":
        return await logs(rest);
      case "metrics":
        return await metrics(rest);
      case "async":
        return await asyncCommand(rest);
      case "version":
        return await versionCommand(rest);
      case "alias":
        return await aliasCommand(rest);
      case "layer":
        return await layerCommand(rest);
      case "trigger":
        return await triggerCommand(rest);
      case "publish":
        return await publish(rest);
      case "images":
        return await images(rest);
      case undefined:
      case "help":
      case "--help":
      case "-h":
        process.stdout.write(USAGE);
        return;
      default:
        process.stderr.write(`nimbus: unknown command '${command}'\n${USAGE}`);
        process.exitCode = 2;
    }
  } catch (err) {
    process.stderr.write(`nimbus: ${(await unreachableMessage(err)) ?? (err as Error).message}\n`);
    process.exitCode = 2;
  }
}
