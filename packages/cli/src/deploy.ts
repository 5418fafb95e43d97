import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { FcApiError } from "@nimbus/sdk";
import { clientFor, loadConfig } from "./config.js";
import { zipDirectory } from "./zip-dir.js";

const USAGE = `usage: nimbus deploy [dir] [--service <name>] [--function <name>] [--runtime nodejs20] [--handler index.handler]
                     [--memory <MB>] [--timeout <s>] [--env KEY=VALUE ...] [--http anonymous|function]

Creates (or updates) a service and a function from a directory (default: the current one). Settings
come from flags, or from <dir>/nimbus.yaml. Without a name from either, the service is 'default' and
the function is named after the directory (say which with --service and --function):

  service: demo
  function: hello
  runtime: nodejs20
  handler: index.handler
  memorySize: 128
  timeout: 10
  environmentVariables: { STAGE: dev }
  httpTrigger: anonymous        # optional: an HTTP trigger (anonymous or function auth)
`;

/** Function fields nimbus.yaml may set (FC's names). */
const FUNCTION_FIELDS = ["runtime", "handler", "memorySize", "timeout", "initializer", "initializationTimeout", "environmentVariables", "instanceConcurrency", "caPort", "customRuntimeConfig", "description", "layers"];

export async function deploy(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      service: { type: "string" },
      function: { type: "string" },
      runtime: { type: "string" },
      handler: { type: "string" },
      memory: { type: "string" },
      timeout: { type: "string" },
      env: { type: "string", multiple: true },
      http: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const dir = resolve(positionals[0] ?? ".");
  const manifestPath = join(dir, "nimbus.yaml");
  const manifest = (existsSync(manifestPath) ? parseYaml(await readFile(manifestPath, "utf8")) : {}) as Record<string, unknown>;
  const namedService = values.service ?? (manifest["service"] as string | undefined);
  const namedFunction = values.function ?? (manifest["function"] as string | undefined);
  const service = namedService ?? "default";
  const fn = namedFunction ?? basename(dir);
  if (namedService === undefined) process.stderr.write(`no --service and no 'service:' in ${manifestPath}: using service '${service}'\n`);
  if (namedFunction === undefined) process.stderr.write(`no --function and no 'function:' in ${manifestPath}: naming the function '${fn}' after its directory\n`);
  const spec: Record<string, unknown> = { runtime: "nodejs20", handler: "index.handler" };
  for (const field of FUNCTION_FIELDS) if (manifest[field] !== undefined) spec[field] = manifest[field];
  if (values.runtime) spec["runtime"] = values.runtime;
  if (values.handler) spec["handler"] = values.handler;
  if (values.memory) spec["memorySize"] = Number(values.memory);
  if (values.timeout) spec["timeout"] = Number(values.timeout);
  if (values.env?.length) {
    spec["environmentVariables"] = Object.fromEntries(
      values.env.map((pair) => {
        const eq = pair.indexOf("=");
        if (eq <= 0) throw new Error(`--env wants KEY=VALUE, got '${pair}'`);
        return [pair.slice(0, eq), pair.slice(eq + 1)];
      }),
    );
  }
  const httpTrigger = values.http ?? (manifest["httpTrigger"] as string | undefined);

  const client = clientFor(await loadConfig());
  const zip = await zipDirectory(dir);
  spec["code"] = { zipFile: zip.toString("base64") };

  await client.createService(service).catch((err: unknown) => {
    if (!(err instanceof FcApiError && err.code === "ServiceAlreadyExists")) throw err;
  });
  let result;
  try {
    result = await client.createFunction(service, { functionName: fn, ...spec });
    process.stderr.write(`created ${service}/${fn} (${zip.length} bytes)\n`);
  } catch (err) {
    if (!(err instanceof FcApiError && err.code === "FunctionAlreadyExists")) throw err;
    result = await client.updateFunction(service, fn, spec);
    process.stderr.write(`updated ${service}/${fn} (${zip.length} bytes)\n`);
  }
  if (httpTrigger) {
    const triggerConfig = { authType: httpTrigger, methods: ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"] };
    const trigger = await client
      .createTrigger(service, fn, { triggerName: "http", triggerType: "http", triggerConfig })
      .catch((err: unknown) => {
        if (err instanceof FcApiError && err.code === "TriggerAlreadyExists") return client.updateTrigger(service, fn, "http", { triggerConfig });
        throw err;
      });
    process.stderr.write(`HTTP trigger: ${String(trigger.data["urlInternet"])}\n`);
  }
  process.stdout.write(`${JSON.stringify(result.data, null, 2)}\n`);
}
