import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { FcApiError } from "@nimbus/sdk";
import { clientFor, loadConfig } from "./config.js";
import { imageSpec, type ImageSpec } from "./deploy-image.js";
import { detectRuntime, REQUIREMENTS, vendorRequirements } from "./python-package.js";
import { isSkipped, zipDirectory } from "./zip-dir.js";

const USAGE = `usage: nimbus deploy [dir] [--service <name>] [--function <name>] [--runtime nodejs20] [--handler index.handler]
                     [--memory <MB>] [--timeout <s>] [--env KEY=VALUE ...] [--http anonymous|function]
       nimbus deploy [dir] --image <reference> [--port 9000] [--command <json-or-words>] [--args <json-or-words>]
                     [--acceleration Default|None] [--web-server-mode true|false] [the options above]

Creates (or updates) a service and a function from a directory (default: the current one). Settings
come from flags, or from <dir>/nimbus.yaml. Without a runtime from either, a directory with an
index.py or a ${REQUIREMENTS} (and no index.js or package.json) is python3, any other nodejs20. A
Python function's ${REQUIREMENTS} is installed into the package with this machine's pip
(python3 -m pip install -t; NIMBUS_PYTHON names another interpreter, pip's own settings apply).
Without a name from either, the service is 'default' and the function is named after the directory
(say which with --service and --function):

  service: demo
  function: hello
  runtime: nodejs20
  handler: index.handler
  memorySize: 128
  timeout: 10
  environmentVariables: { STAGE: dev }
  httpTrigger: anonymous        # optional: an HTTP trigger (anonymous or function auth)

With --image (or 'image:' in nimbus.yaml) the function is a container image (runtime
custom-container; nothing is uploaded from the directory): the image's server must listen on --port
(FC's caPort, default 9000). --command and --args replace the image's Entrypoint and Cmd, given as a
JSON array ('["/app/server", "--verbose"]') or as words ('/app/server --verbose'). --acceleration
Default (the default) has the invoker nodes pull the image at once, None at the first call.
--web-server-mode false runs the command once per invocation, with the event in
FC_CUSTOM_CONTAINER_EVENT. Options left out go back to these defaults on an update.

  image: 127.0.0.1:5000/demo/hello:v1
  port: 9000
  command: [/usr/bin/python3, /app/server.py]
  acceleration: None

The gateway resolves the reference to a digest and the function runs that digest (deploy prints it,
with the acceleration status). A tag that moved later changes nothing until the next deploy: deploying
the same --image again re-resolves it, which is how LATEST follows a moved tag; published versions
keep the digest they were published with.
`;

const MANIFEST = "nimbus.yaml";

/** Function fields nimbus.yaml may set (FC's names). */
const FUNCTION_FIELDS = ["runtime", "handler", "memorySize", "timeout", "initializer", "initializationTimeout", "environmentVariables", "instanceConcurrency", "caPort", "customRuntimeConfig", "description", "layers"];

/** `nimbus deploy`: creates or updates a service's function from a directory of code or a container image. */
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
      image: { type: "string" },
      port: { type: "string" },
      command: { type: "string" },
      args: { type: "string" },
      acceleration: { type: "string" },
      "web-server-mode": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const dir = resolve(positionals[0] ?? ".");
  const manifestPath = join(dir, MANIFEST);
  const manifest = (existsSync(manifestPath) ? parseYaml(await readFile(manifestPath, "utf8")) : {}) as Record<string, unknown>;
  // Everything the command line and nimbus.yaml say is checked before anything is sent.
  const image = imageSpec(values, manifest);
  const spec = functionSpec(values, manifest, image, image ? undefined : detectRuntime(dir));
  const namedService = values.service ?? (manifest["service"] as string | undefined);
  const namedFunction = values.function ?? (manifest["function"] as string | undefined);
  const service = namedService ?? "default";
  const fn = namedFunction ?? basename(dir);
  if (namedService === undefined) process.stderr.write(`no --service and no 'service:' in ${manifestPath}: using service '${service}'\n`);
  if (namedFunction === undefined) process.stderr.write(`no --function and no 'function:' in ${manifestPath}: naming the function '${fn}' after its directory\n`);
  const httpTrigger = values.http ?? (manifest["httpTrigger"] as string | undefined);

  let what: string;
  if (image) {
    what = `image ${image.customContainerConfig.image}`;
  } else {
    const zip = await codePackage(dir, manifestPath, String(spec["runtime"]));
    spec["code"] = { zipFile: zip.toString("base64") };
    what = `${String(spec["runtime"])}, ${zip.length} bytes`;
  }
  const client = clientFor(await loadConfig());

  await client.createService(service).catch((err: unknown) => {
    if (!(err instanceof FcApiError && err.code === "ServiceAlreadyExists")) throw err;
  });
  let result;
  try {
    result = await client.createFunction(service, { functionName: fn, ...spec });
    process.stderr.write(`created ${service}/${fn} (${what})\n`);
  } catch (err) {
    if (!(err instanceof FcApiError && err.code === "FunctionAlreadyExists")) throw err;
    result = await client.updateFunction(service, fn, spec);
    process.stderr.write(`updated ${service}/${fn} (${what})\n`);
  }
  if (image) {
    // getFunction, not the create/update answer: the digest it runs and the latest acceleration status.
    result = await client.getFunction(service, fn);
    process.stderr.write(imageSummary(result.data));
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

/** The function's fields from nimbus.yaml and the flags (flags win); FC's runtime for an image function, else the one the directory's code says. */
function functionSpec(
  values: { runtime?: string | undefined; handler?: string | undefined; memory?: string | undefined; timeout?: string | undefined; env?: string[] | undefined },
  manifest: Record<string, unknown>,
  image: ImageSpec | undefined,
  detected: string | undefined,
): Record<string, unknown> {
  const spec: Record<string, unknown> = image ? {} : { runtime: detected, handler: "index.handler" };
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
  if (image) {
    if (spec["runtime"] !== undefined && spec["runtime"] !== image.runtime) {
      throw new Error(`an image function's runtime is ${image.runtime}, not ${String(spec["runtime"])}: drop --runtime (or 'runtime:') or the image`);
    }
    Object.assign(spec, image);
  }
  return spec;
}

/**
 * The directory zipped — a Python function's with the packages its requirements.txt names — or why
 * there is nothing to deploy (no directory; no code and no image).
 */
async function codePackage(dir: string, manifestPath: string, runtime: string): Promise<Buffer> {
  if (!existsSync(dir)) throw new Error(`${dir} does not exist: deploy takes a directory of code, or --image <reference> for a container image`);
  const entries = (await readdir(dir)).filter((name) => name !== MANIFEST && !isSkipped(name));
  if (entries.length === 0) {
    throw new Error(`nothing to deploy: ${dir} holds no code and no container image is named (--image <reference>, or 'image:' in ${manifestPath})`);
  }
  const vendored = runtime.startsWith("python") ? await vendorRequirements(dir) : undefined;
  try {
    return await zipDirectory(dir, vendored ? [vendored.dir] : []);
  } finally {
    await vendored?.remove();
  }
}

/** What an image function runs after a deploy: the digest and the acceleration status. */
function imageSummary(fn: Record<string, unknown>): string {
  const config = (fn["customContainerConfig"] ?? {}) as { resolvedImageUri?: string; accelerationType?: string; accelerationInfo?: { status?: string } };
  const status = config.accelerationInfo?.status ?? "unknown";
  const pulling = config.accelerationType === "Default" && status !== "Ready" ? " (the invoker nodes are pulling it)" : "";
  return [
    `resolved:     ${config.resolvedImageUri ?? "(not reported)"}`,
    `acceleration: ${config.accelerationType ?? "?"}, ${status}${pulling}`,
    "",
  ].join("\n");
}
