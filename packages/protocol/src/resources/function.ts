import { z } from "zod";
import { effectiveFunction } from "../effective-function.js";
import { errors } from "../errors.js";
import { Limits } from "../limits.js";
import { NAME_PATTERN } from "../names.js";
import { CUSTOM_CONTAINER_RUNTIME, isCustomContainer, isCustomRuntime, isSupportedRuntime, RUNTIMES } from "../runtimes.js";
import { intField, stringMap } from "../validation.js";
import {
  type AccelerationStatus,
  CustomContainerConfigFields,
  CustomContainerConfigRecord,
  customContainerView,
  ResolvedImageRecord,
} from "./custom-container.js";

const looseObject = () => z.record(z.string(), z.unknown());

const runtime = z.string({ error: "is required" }).refine(isSupportedRuntime, {
  error: (issue) =>
    `Runtime is set to an invalid value '${String(issue.input)}'; valid values: ${RUNTIMES.join(", ")}`,
});

/** `file.export`, relative, no `..` segments (custom runtimes accept any short token). */
const HANDLER = /^(?!\/)(?!.*(?:^|\/)\.\.(?:\/|\.|$))[A-Za-z0-9_\-./@]{1,128}$/;
const handler = z.string({ error: "is required" }).max(128).regex(HANDLER, {
  error: "must look like 'file.export' (letters, digits, '_', '-', '.', '/'; no '..' segments)",
});

/** FC reserves `FC_*` for the variables it sets itself. */
const ENV_KEY = /^(?!FC_)[A-Za-z_][A-Za-z0-9_]*$/;

const CustomRuntimeConfig = z.object({
  command: z.array(z.string().max(1024)).max(32).optional(),
  args: z.array(z.string().max(1024)).max(64).optional(),
});

/** A lifecycle hook: FC's `{handler, timeout}` (seconds); an empty handler is none (what a read shows for an unset hook). */
const LifecycleHook = z.object({ handler: z.union([z.literal(""), handler]), timeout: z.number().int().min(1).max(900).optional() }).passthrough();

/**
 * FC's instance lifecycle hooks. `preStop` runs before an instance is stopped on purpose (idle,
 * retired, evicted, node stopping); Nimbus never freezes instances, so `preFreeze` is kept but never
 * called.
 */
const InstanceLifecycleConfig = z.object({ preStop: LifecycleHook.optional(), preFreeze: LifecycleHook.optional() }).passthrough();

/** A layer version by its `arnV2` (`acs:fc:{region}:{account}:layers/{name}/versions/{n}`) or its older `arn` (`{account}#{name}#{n}`). */
const LAYER_ARN = /^(acs:fc:[^:]*:[^:]*:layers\/[A-Za-z_][A-Za-z0-9_-]{0,127}\/versions\/[1-9][0-9]*|[^#\s]{1,64}#[A-Za-z_][A-Za-z0-9_-]{0,127}#[1-9][0-9]*)$/;

/** The fields of a function a client sets (create and update). */
export const FunctionSpec = z.object({
  description: z.string().max(Limits.descriptionChars, { error: `must be at most ${Limits.descriptionChars} characters` }).optional(),
  runtime,
  handler,
  timeout: intField(Limits.timeoutSeconds.min, Limits.timeoutSeconds.max),
  initializer: z.union([z.literal(""), handler]),
  initializationTimeout: intField(Limits.initializationTimeoutSeconds.min, Limits.initializationTimeoutSeconds.max),
  memorySize: intField(Limits.memorySizeMb.min, Limits.memorySizeMb.max).refine(
    (v) => v % Limits.memorySizeMb.step === 0,
    { error: `must be a multiple of ${Limits.memorySizeMb.step}` },
  ),
  environmentVariables: stringMap({
    keyPattern: ENV_KEY,
    keyHint: "environment variable names are letters, digits and '_', not starting with a digit, and not FC_* (reserved)",
    maxBytes: Limits.environmentBytes,
  }),
  instanceConcurrency: intField(Limits.instanceConcurrency.min, Limits.instanceConcurrency.max),
  caPort: intField(Limits.caPort.min, Limits.caPort.max),
  layers: z
    .array(z.string().regex(LAYER_ARN, { error: "must be a layer version's arnV2 (acs:fc:{region}:{account}:layers/{name}/versions/{n}) or arn ({account}#{name}#{n})" }))
    .max(Limits.layersPerFunction, { error: `at most ${Limits.layersPerFunction} layers are allowed` }),
  customRuntimeConfig: CustomRuntimeConfig,
  customContainerConfig: CustomContainerConfigFields,
  // Accepted and stored so FC tooling keeps working; they do not change how Nimbus runs the code.
  instanceType: z.string().max(64),
  cpu: z.number().positive(),
  diskSize: z.number().int().positive(),
  instanceLifecycleConfig: InstanceLifecycleConfig,
  customDNS: looseObject(),
  customHealthCheckConfig: looseObject(),
});

/** Code as the API takes it. Only inline zips: Nimbus has no OSS. */
export const CodeInput = z
  .object({
    zipFile: z.string().optional(),
    ossBucketName: z.string().optional(),
    ossObjectName: z.string().optional(),
  })
  .superRefine((code, ctx) => {
    if (code.ossBucketName !== undefined || code.ossObjectName !== undefined) {
      ctx.addIssue({ code: "custom", message: "code from OSS (ossBucketName/ossObjectName) is not supported; send code.zipFile" });
    } else if (code.zipFile === undefined) {
      ctx.addIssue({ code: "custom", message: "code.zipFile is required" });
    }
  });
export type CodeInput = z.output<typeof CodeInput>;

/** Body of `POST /services/{svc}/functions`. */
export const CreateFunctionBody = FunctionSpec.partial()
  .required({ runtime: true })
  .extend({
    functionName: z.string({ error: "is required" }).regex(NAME_PATTERN, { error: "is not a valid function name" }),
    code: CodeInput.optional(),
  })
  .superRefine((body, ctx) => {
    const issue = (path: string[], message: string) => ctx.addIssue({ code: "custom", path, message });
    if (isCustomContainer(body.runtime)) {
      if (!body.customContainerConfig) issue(["customContainerConfig"], `is required with runtime ${CUSTOM_CONTAINER_RUNTIME} (it names the image)`);
      else if (body.customContainerConfig.image === undefined) issue(["customContainerConfig", "image"], "is required");
      for (const message of containerConflicts(body)) issue(...message);
      return;
    }
    if (body.handler === undefined) issue(["handler"], "is required");
    if (body.customContainerConfig) issue(["customContainerConfig"], `is only allowed with runtime ${CUSTOM_CONTAINER_RUNTIME}`);
    if (!body.code) issue(["code"], "is required");
  });
export type CreateFunctionBody = z.output<typeof CreateFunctionBody>;

/** Body of `PUT /services/{svc}/functions/{fn}`: only the fields sent change. */
export const UpdateFunctionBody = FunctionSpec.partial().extend({ code: CodeInput.optional() });
export type UpdateFunctionBody = z.output<typeof UpdateFunctionBody>;

/** What a custom-container function may not have: a code package, layers, a custom runtime's command. */
function containerConflicts(body: { code?: unknown; layers?: string[] | undefined; customRuntimeConfig?: unknown }): [string[], string][] {
  const out: [string[], string][] = [];
  if (body.code !== undefined) {
    out.push([["code"], `is not allowed with runtime ${CUSTOM_CONTAINER_RUNTIME}: the function's code is its image (customContainerConfig.image)`]);
  }
  if (body.layers?.length) out.push([["layers"], `are not supported with runtime ${CUSTOM_CONTAINER_RUNTIME}: put what they hold into the image`]);
  if (body.customRuntimeConfig !== undefined) {
    out.push([["customRuntimeConfig"], `is not allowed with runtime ${CUSTOM_CONTAINER_RUNTIME}: use customContainerConfig.command and args`]);
  }
  return out;
}

/**
 * Refuses an update that does not fit the function it changes: a function stays an image function or
 * a code function for its whole life (switching needs a new function; FC's console offers no switch
 * either), an image function takes no code, a code function no customContainerConfig.
 */
export function checkFunctionUpdate(current: FunctionRecord, body: UpdateFunctionBody): void {
  const container = isCustomContainer(current.runtime);
  if (body.runtime !== undefined && isCustomContainer(body.runtime) !== container) {
    throw errors.invalidArgument(
      `runtime: cannot change from '${current.runtime}' to '${body.runtime}': a function is a ${CUSTOM_CONTAINER_RUNTIME} function or a code function for its whole life; create a new function instead`,
    );
  }
  if (!container) {
    if (body.customContainerConfig !== undefined) {
      throw errors.invalidArgument(`customContainerConfig: is only allowed with runtime ${CUSTOM_CONTAINER_RUNTIME}, and this function's runtime is '${current.runtime}'`);
    }
    return;
  }
  const [conflict] = containerConflicts(body);
  if (conflict) throw errors.invalidArgument(`${conflict[0].join(".")}: ${conflict[1]}`);
}

/**
 * A function as stored in KV: the spec with FC's defaults applied, plus identity and code. An image
 * function (custom-container) has no code package: codeSize 0, codeChecksum and codeSha256 "".
 */
export const FunctionRecord = FunctionSpec.partial()
  .required({ runtime: true, handler: true })
  .extend({
    serviceName: z.string(),
    functionName: z.string(),
    functionId: z.string(),
    codeSize: z.number().int(),
    /** FC's checksum: CRC-64/XZ (ECMA-182) of the zip, as a decimal string. */
    codeChecksum: z.string(),
    /** Content address of the zip in the object store. */
    codeSha256: z.string(),
    createdTime: z.string(),
    lastModifiedTime: z.string(),
    /** custom-container only: the config as given (with FC's defaults) and what its image resolved to. */
    customContainerConfig: CustomContainerConfigRecord.optional(),
    resolvedImage: ResolvedImageRecord.optional(),
  });
export type FunctionRecord = z.output<typeof FunctionRecord>;

/** The code fields of a function that has no code package (an image function). */
export const NO_CODE_PACKAGE = { codeSize: 0, codeChecksum: "", codeSha256: "" } as const;

/** False for an image function: it has no code package to fetch, unpack or keep. */
export function hasCodePackage(record: Pick<FunctionRecord, "codeSha256">): boolean {
  return record.codeSha256 !== "";
}

/**
 * A function as the FC API returns it, with FC's defaults. `acceleration` says whether an image
 * function's pinned digest is on an invoker node yet (FC's accelerationInfo.status).
 */
export function functionView(record: FunctionRecord, acceleration: (digest: string) => AccelerationStatus = () => "Preparing") {
  const fn = effectiveFunction(record);
  return {
    functionId: record.functionId,
    functionName: record.functionName,
    description: record.description ?? "",
    runtime: record.runtime,
    handler: record.handler,
    timeout: fn.timeoutMs / 1000,
    initializer: record.initializer ?? "",
    initializationTimeout: fn.initializationTimeoutMs / 1000,
    memorySize: fn.memoryMb,
    environmentVariables: record.environmentVariables ?? {},
    instanceConcurrency: fn.instanceConcurrency,
    caPort: fn.caPort,
    layers: record.layers ?? [],
    layersArnV2: record.layers ?? [],
    customRuntimeConfig: record.customRuntimeConfig || isCustomRuntime(record.runtime) ? { command: [], args: [], ...record.customRuntimeConfig } : undefined,
    customContainerConfig: record.customContainerConfig
      ? customContainerView(record.customContainerConfig, record.resolvedImage, record.resolvedImage ? acceleration(record.resolvedImage.digest) : "Preparing")
      : undefined,
    instanceType: record.instanceType ?? "e1",
    cpu: record.cpu,
    diskSize: record.diskSize,
    instanceLifecycleConfig: lifecycleView(record.instanceLifecycleConfig),
    customDNS: record.customDNS ? { nameServers: [], searches: [], dnsOptions: [], ...record.customDNS } : undefined,
    customHealthCheckConfig: record.customHealthCheckConfig ? { httpGetUrl: "", initialDelaySeconds: 0, periodSeconds: 3, timeoutSeconds: 1, failureThreshold: 3, successThreshold: 1, ...record.customHealthCheckConfig } : undefined,
    codeSize: record.codeSize,
    codeChecksum: record.codeChecksum,
    createdTime: record.createdTime,
    lastModifiedTime: record.lastModifiedTime,
  };
}
export type FunctionView = ReturnType<typeof functionView>;

/** FC's instanceLifecycleConfig: both hooks, each with its handler ("" when none) and timeout. */
function lifecycleView(config: FunctionRecord["instanceLifecycleConfig"]) {
  const hook = (h: { handler?: string; timeout?: number } | undefined) => ({ handler: h?.handler ?? "", timeout: h?.timeout ?? 3 });
  return { ...config, preFreeze: hook(config?.preFreeze), preStop: hook(config?.preStop) };
}
