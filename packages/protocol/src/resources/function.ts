import { z } from "zod";
import { Defaults, Limits } from "../limits.js";
import { NAME_PATTERN } from "../names.js";
import { isCustomRuntime, isSupportedRuntime, NODE_RUNTIMES, CUSTOM_RUNTIMES } from "../runtimes.js";
import { intField, stringMap } from "../validation.js";

const looseObject = () => z.record(z.string(), z.unknown());

const runtime = z.string({ error: "is required" }).refine(isSupportedRuntime, {
  error: (issue) =>
    `Runtime is set to an invalid value '${String(issue.input)}'; valid values: ${[...NODE_RUNTIMES, ...CUSTOM_RUNTIMES].join(", ")}`,
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

const LAYER_ARN = /^acs:fc:[^:]*:[^:]*:layers\/[A-Za-z_][A-Za-z0-9_-]{0,127}\/versions\/[1-9][0-9]*$/;

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
    .array(z.string().regex(LAYER_ARN, { error: "must be a layer version ARN acs:fc:{region}:{account}:layers/{name}/versions/{n}" }))
    .max(Limits.layersPerFunction, { error: `at most ${Limits.layersPerFunction} layers are allowed` }),
  customRuntimeConfig: CustomRuntimeConfig,
  // Accepted and stored so FC tooling keeps working; they do not change how Nimbus runs the code.
  instanceType: z.string().max(64),
  cpu: z.number().positive(),
  diskSize: z.number().int().positive(),
  instanceLifecycleConfig: looseObject(),
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
  .required({ runtime: true, handler: true })
  .extend({
    functionName: z.string({ error: "is required" }).regex(NAME_PATTERN, { error: "is not a valid function name" }),
    code: CodeInput,
  });
export type CreateFunctionBody = z.output<typeof CreateFunctionBody>;

/** Body of `PUT /services/{svc}/functions/{fn}`: only the fields sent change. */
export const UpdateFunctionBody = FunctionSpec.partial().extend({ code: CodeInput.optional() });
export type UpdateFunctionBody = z.output<typeof UpdateFunctionBody>;

/** A function as stored in KV: the spec with FC's defaults applied, plus identity and code. */
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
  });
export type FunctionRecord = z.output<typeof FunctionRecord>;

/** A function as the FC API returns it, with FC's defaults. */
export function functionView(record: FunctionRecord) {
  const custom = isCustomRuntime(record.runtime);
  return {
    functionId: record.functionId,
    functionName: record.functionName,
    description: record.description ?? "",
    runtime: record.runtime,
    handler: record.handler,
    timeout: record.timeout ?? Defaults.timeoutSeconds,
    initializer: record.initializer ?? "",
    initializationTimeout: record.initializationTimeout ?? Defaults.initializationTimeoutSeconds,
    memorySize: record.memorySize ?? Defaults.memorySizeMb,
    environmentVariables: record.environmentVariables ?? {},
    instanceConcurrency: record.instanceConcurrency ?? Defaults.instanceConcurrency,
    caPort: record.caPort ?? (custom ? Defaults.caPort : undefined),
    layers: record.layers ?? [],
    customRuntimeConfig: record.customRuntimeConfig ?? (custom ? { command: [], args: [] } : undefined),
    instanceType: record.instanceType ?? "e1",
    cpu: record.cpu,
    diskSize: record.diskSize,
    instanceLifecycleConfig: record.instanceLifecycleConfig ?? {},
    customDNS: record.customDNS,
    customHealthCheckConfig: record.customHealthCheckConfig,
    codeSize: record.codeSize,
    codeChecksum: record.codeChecksum,
    createdTime: record.createdTime,
    lastModifiedTime: record.lastModifiedTime,
  };
}
export type FunctionView = ReturnType<typeof functionView>;
