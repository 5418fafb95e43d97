import { join } from "node:path";
import type { EffectiveFunction, FunctionRecord, ServiceRecord } from "@nimbus/protocol";
import type { FunctionInfo } from "@nimbus/protocol/wire";
import { PREINSTALLED_MODULES } from "@nimbus/runtime-node";
import type { SandboxPaths } from "@nimbus/sandbox";

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
    kind: fn.custom ? "custom" : "node",
    caPort: fn.caPort,
    command: [],
    maxOutputBytes: where.maxOutputBytesPerInvocation,
  };
}

/** The environment inside an instance: the function's own variables plus FC's, nothing of the platform's. */
export function instanceEnv(record: FunctionRecord, service: ServiceRecord, fn: FunctionInfo, paths: SandboxPaths, instanceId: string): Record<string, string> {
  const code = paths.code;
  return {
    ...record.environmentVariables,
    PATH: `${code}:${code}/bin:${paths.opt}/bin:/usr/local/bin:/usr/bin:/bin`,
    HOME: paths.tmp,
    LANG: "C.UTF-8",
    NODE_PATH: [`${code}/node_modules`, `${paths.opt}/nodejs/node_modules`, join(paths.runtime, PREINSTALLED_MODULES)].join(":"),
    LD_LIBRARY_PATH: [code, `${code}/lib`, `${paths.opt}/lib`, "/usr/local/lib"].join(":"),
    FC_FUNC_CODE_PATH: `${code}/`,
    FC_FUNCTION_NAME: record.functionName,
    FC_FUNCTION_HANDLER: record.handler,
    FC_FUNCTION_MEMORY_SIZE: String(fn.memory),
    FC_SERVICE_NAME: service.serviceName,
    FC_REGION: fn.region,
    FC_ACCOUNT_ID: fn.accountId,
    FC_INSTANCE_ID: instanceId,
    FC_CUSTOM_LISTEN_PORT: String(fn.caPort),
    FC_FUNCTION_VERSION: fn.service.versionId || "LATEST",
  };
}
