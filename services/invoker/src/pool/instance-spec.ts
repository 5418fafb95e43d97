import { join } from "node:path";
import type { EffectiveFunction, FunctionRecord, ServiceRecord } from "@nimbus/protocol";
import type { FunctionInfo } from "@nimbus/protocol/wire";
import { PREINSTALLED_MODULES, RUNTIME_ENTRY, WARMUP_VARIABLE } from "@nimbus/runtime-node";
import { PYTHON_RUNTIME_ENTRY } from "@nimbus/runtime-python";
import { interpreters } from "./python.js";
import type { SandboxKind } from "./prestart.js";

/** Where the Python runtime sits inside the runtime directory instances mount. */
export const PYTHON_DIR = "python";
import type { SandboxPaths, SandboxRoot } from "@nimbus/sandbox";
import { imageRun } from "./image-spec.js";
import type { InstanceSource } from "./sources.js";

/** What the runtime inside an instance is told about its function (FC's context, the kind of runtime). */
export function functionInfo(
  fn: EffectiveFunction,
  service: ServiceRecord,
  versionId: string,
  where: { region: string; accountId: string; maxOutputBytesPerInvocation: number },
): FunctionInfo {
  const record = fn.record;
  return {
    name: record.functionName,
    handler: record.handler,
    memory: fn.memoryMb,
    timeout: fn.timeoutMs / 1000,
    initializer: record.initializer ?? "",
    initializationTimeout: fn.initializationTimeoutMs / 1000,
    service: {
      name: service.serviceName,
      logProject: service.logConfig?.project ?? "",
      logStore: service.logConfig?.logstore ?? "",
      qualifier: versionId,
      versionId: versionId === "LATEST" ? "" : versionId,
    },
    region: where.region,
    accountId: where.accountId,
    // A container image follows the custom-runtime contract: the runtime relays to its server.
    kind: fn.custom || fn.container ? "custom" : fn.python ? "python" : "node",
    runtime: record.runtime,
    ...(fn.preStop && !fn.custom && !fn.container ? { preStop: fn.preStop.handler } : {}),
    caPort: fn.caPort,
    command: [],
    maxOutputBytes: where.maxOutputBytesPerInvocation,
  };
}

/** The environment inside an instance: the function's own variables plus FC's, nothing of the platform's. */
export function instanceEnv(record: FunctionRecord, service: ServiceRecord, fn: FunctionInfo, paths: SandboxPaths, instanceId: string): Record<string, string> {
  return { ...record.environmentVariables, ...runtimeEnv(paths), ...fcEnv(record, service, fn, instanceId) };
}

/**
 * What any instance's runtime needs whatever function it runs: where things are. A pre-started
 * sandbox boots with only this, and gets the rest (instanceEnv) with its function.
 */
export function runtimeEnv(paths: SandboxPaths): Record<string, string> {
  const code = paths.code;
  return {
    PATH: `${code}:${code}/bin:${paths.opt}/bin:/usr/local/bin:/usr/bin:/bin`,
    HOME: paths.tmp,
    LANG: "C.UTF-8",
    NODE_PATH: [`${code}/node_modules`, `${paths.opt}/nodejs/node_modules`, join(paths.runtime, PREINSTALLED_MODULES)].join(":"),
    LD_LIBRARY_PATH: [code, `${code}/lib`, `${paths.opt}/lib`, "/usr/local/lib"].join(":"),
    FC_FUNC_CODE_PATH: `${code}/`,
  };
}

/** Variables only read when a process starts (Node's options, Python's, the loader's, libuv's, the allocator's). */
const READ_AT_START = /^(NODE_|UV_|LD_|MALLOC_|GLIBC_|PYTHON)/;

/** Python's own settings for every instance: output as printed, no .pyc beside read-only code. */
const PYTHON_ENV = { PYTHONUNBUFFERED: "1", PYTHONDONTWRITEBYTECODE: "1" };

/**
 * The kind of pre-started sandbox an instance of `fn` may be, or undefined when it needs one of its
 * own: an image, or a function with variables that only act when a process starts.
 */
export function sandboxKind(fn: EffectiveFunction, network: boolean): SandboxKind | undefined {
  if (fn.container) return undefined;
  if (Object.keys(fn.record.environmentVariables ?? {}).some((key) => READ_AT_START.test(key))) return undefined;
  if (fn.python) {
    return { key: `python:${interpreters.for(fn.record.runtime).path}:${network ? "net" : "local"}`, network, command: runtimeCommand(fn), env: (paths) => ({ ...PYTHON_ENV, ...runtimeEnv(paths) }) };
  }
  return network ? NODE_WITH_NETWORK : NODE_LOCAL;
}

/** The runtime an instance of `fn` runs: Python's on its interpreter, else Node.js's (custom runtimes and images run through it too). */
function runtimeCommand(fn: EffectiveFunction): (paths: SandboxPaths) => string[] {
  if (!fn.python) return nodeRuntimeCommand;
  const interpreter = interpreters.for(fn.record.runtime).path;
  return (paths) => [interpreter, join(paths.runtime, PYTHON_DIR, PYTHON_RUNTIME_ENTRY)];
}

function nodeKind(network: boolean): SandboxKind {
  return {
    key: `node:${network ? "net" : "local"}`,
    network,
    command: nodeRuntimeCommand,
    // The marker goes with the rest of the boot environment when the function's replaces it.
    env: (paths) => ({ ...runtimeEnv(paths), [WARMUP_VARIABLE]: "1" }),
  };
}

/** What every node keeps ready first: Node.js with the network, FC's default. */
export const NODE_WITH_NETWORK = nodeKind(true);
const NODE_LOCAL = nodeKind(false);

/** FC's own variables, which every instance gets whatever it runs. */
function fcEnv(record: FunctionRecord, service: ServiceRecord, fn: FunctionInfo, instanceId: string): Record<string, string> {
  return {
    FC_FUNCTION_NAME: record.functionName,
    FC_FUNCTION_HANDLER: record.handler,
    FC_FUNCTION_MEMORY_SIZE: String(fn.memory),
    FC_SERVICE_NAME: service.serviceName,
    FC_REGION: fn.region,
    FC_ACCOUNT_ID: fn.accountId,
    FC_INSTANCE_ID: instanceId,
    FC_CUSTOM_LISTEN_PORT: String(fn.caPort),
    FC_SERVER_PORT: String(fn.caPort),
    FC_FUNCTION_VERSION: fn.service.versionId || "LATEST",
  };
}

/** What a sandbox for one instance is made of: what the runtime is told, its root, its environment, the runtime it runs. */
export interface LaunchPlan {
  info: FunctionInfo;
  root: SandboxRoot;
  env: (paths: SandboxPaths) => Record<string, string>;
  command: (paths: SandboxPaths) => string[];
}

/** The Node.js runtime's command (every runtime but Python's: custom runtimes and images run through it too). */
export function nodeRuntimeCommand(paths: SandboxPaths): string[] {
  return [...paths.node, join(paths.runtime, RUNTIME_ENTRY)];
}

/**
 * How an instance of `fn` starts from `source`. Code: the host's system with the code at /code, the
 * runtime's environment the function's. An image: its root filesystem, its user, and its command
 * (Entrypoint/Cmd or FC's overrides) with its own environment, which the runtime hands to the
 * command and keeps out of its own. Throws NoCommandError / UnknownUserError for an image that
 * cannot start.
 */
export function launchPlan(
  fn: EffectiveFunction,
  service: ServiceRecord,
  versionId: string,
  source: InstanceSource,
  where: { region: string; accountId: string; maxOutputBytesPerInvocation: number },
  instanceId: string,
): LaunchPlan {
  const record = fn.record;
  const info = functionInfo(fn, service, versionId, where);
  if (source.kind === "image" && fn.container) {
    const run = imageRun(source.image.config, fn.container, { function: record.environmentVariables ?? {}, platform: fcEnv(record, service, info, instanceId) }, source.accounts);
    info.command = run.command;
    info.cwd = run.cwd;
    info.env = run.env;
    info.webServerMode = fn.container.webServerMode;
    return { info, root: { kind: "image", rootfs: source.image.rootfs, uid: run.uid, gid: run.gid }, env: () => ({ LANG: "C.UTF-8" }), command: nodeRuntimeCommand };
  }
  if (source.kind !== "code") throw new Error(`function ${record.functionName} has no image, but its instance was given one`);
  return {
    info,
    root: { kind: "code", codeDir: source.codeDir, ...(source.optDir ? { optDirs: [source.optDir] } : {}) },
    env: (paths) => {
      if (fn.custom) info.command = customCommand(record, paths.code);
      const env = instanceEnv(record, service, info, paths, instanceId);
      // Nothing buffered in the interpreter (output reaches the log as printed), no .pyc beside read-only code.
      return fn.python ? { ...PYTHON_ENV, ...env } : env;
    },
    command: runtimeCommand(fn),
  };
}

/** The command a custom runtime's server starts with (FC: customRuntimeConfig, else `bootstrap`). */
function customCommand(record: FunctionRecord, codePath: string): string[] {
  const config = record.customRuntimeConfig;
  const command = config?.command?.length ? config.command : [join(codePath, "bootstrap")];
  return [...command, ...(config?.args ?? [])];
}
