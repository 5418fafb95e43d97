import { z } from "zod";
import { Limits } from "../limits.js";
import { NAME_PATTERN } from "../names.js";
import { boolField } from "../validation.js";

const looseObject = () => z.record(z.string(), z.unknown());

const LogConfig = z.object({
  project: z.string().max(128).optional(),
  logstore: z.string().max(128).optional(),
  enableRequestMetrics: boolField().optional(),
  enableInstanceMetrics: boolField().optional(),
  logBeginRule: z.enum(["DefaultRegex", "None"]).optional(),
});

const TracingConfig = z.object({
  type: z.string().max(64).optional(),
  params: looseObject().optional(),
});

/** The fields of a service a client sets (create and update). */
export const ServiceSpec = z.object({
  description: z.string().max(Limits.descriptionChars, { error: `must be at most ${Limits.descriptionChars} characters` }).optional(),
  role: z.string().max(300).optional(),
  logConfig: LogConfig.optional(),
  internetAccess: boolField().optional(),
  tracingConfig: TracingConfig.optional(),
  // Accepted and stored so tools that always send them keep working; Nimbus has no VPC/NAS/OSS mounts.
  vpcConfig: looseObject().optional(),
  nasConfig: looseObject().optional(),
  ossMountConfig: looseObject().optional(),
});
export type ServiceSpec = z.output<typeof ServiceSpec>;

/** Body of `POST /services`. */
export const CreateServiceBody = ServiceSpec.extend({
  serviceName: z.string({ error: "is required" }).regex(NAME_PATTERN, { error: "is not a valid service name" }),
});

/** Body of `PUT /services/{name}`: only the fields sent change. */
export const UpdateServiceBody = ServiceSpec;

/** A service as stored in KV. */
export const ServiceRecord = ServiceSpec.extend({
  serviceName: z.string(),
  serviceId: z.string(),
  tags: z.record(z.string(), z.string()).default({}),
  createdTime: z.string(),
  lastModifiedTime: z.string(),
});
export type ServiceRecord = z.output<typeof ServiceRecord>;

/**
 * Where a service's own spans are sent (OTLP over HTTP): its tracingConfig's `params.endpoint` when
 * `type` is `OTLP`, or `Jaeger` with Jaeger's OTLP receiver (`…/v1/traces`; Jaeger's Thrift
 * collector, `…/api/traces`, is not spoken).
 */
export function serviceTraceEndpoint(record: ServiceRecord | undefined): string | undefined {
  const config = record?.tracingConfig;
  const endpoint = config?.params?.["endpoint"];
  if (typeof endpoint !== "string" || !/^https?:\/\//.test(endpoint)) return undefined;
  const type = config?.type?.toLowerCase();
  if (type === "otlp" || (type === "jaeger" && /\/v1\/traces\/?$/.test(endpoint))) return endpoint;
  return undefined;
}

/** A service as the FC API returns it, with FC's defaults for every field never set. */
export function serviceView(record: ServiceRecord) {
  return {
    serviceId: record.serviceId,
    serviceName: record.serviceName,
    description: record.description ?? "",
    role: record.role ?? "",
    logConfig: {
      project: record.logConfig?.project ?? "",
      logstore: record.logConfig?.logstore ?? "",
      enableRequestMetrics: record.logConfig?.enableRequestMetrics ?? false,
      enableInstanceMetrics: record.logConfig?.enableInstanceMetrics ?? false,
      logBeginRule: record.logConfig?.logBeginRule ?? "None",
    },
    // FC's shapes whether a config was never set, set empty ({}) or set in part: every field there.
    vpcConfig: { vpcId: "", vSwitchIds: [], securityGroupId: "", role: "", ...record.vpcConfig },
    internetAccess: record.internetAccess ?? true,
    nasConfig: { userId: -1, groupId: -1, mountPoints: [], ...record.nasConfig },
    ossMountConfig: { mountPoints: [], ...record.ossMountConfig },
    tracingConfig: { type: record.tracingConfig?.type ?? null, params: record.tracingConfig?.params ?? null },
    createdTime: record.createdTime,
    lastModifiedTime: record.lastModifiedTime,
  };
}
export type ServiceView = ReturnType<typeof serviceView>;
