import { z } from "zod";
import { intField } from "../validation.js";

/** The cluster-wide instance limit of a function (qualifier) when it has no on-demand config. */
export const DEFAULT_MAXIMUM_INSTANCE_COUNT = 300;

/** Body of `PUT …/on-demand-config`. */
export const PutOnDemandConfigBody = z.object({
  maximumInstanceCount: intField(0, 100_000),
});

/** An on-demand config as stored in KV. */
export const OnDemandConfigRecord = z.object({
  serviceName: z.string(),
  qualifier: z.string(),
  functionName: z.string(),
  maximumInstanceCount: z.number().int(),
  lastModifiedTime: z.string(),
});
export type OnDemandConfigRecord = z.output<typeof OnDemandConfigRecord>;

/** FC's resource string of an on-demand config. */
export function onDemandResource(service: string, qualifier: string, fn: string): string {
  return `services/${service}.${qualifier}/functions/${fn}`;
}

export function onDemandView(record: OnDemandConfigRecord) {
  return {
    resource: onDemandResource(record.serviceName, record.qualifier, record.functionName),
    maximumInstanceCount: record.maximumInstanceCount,
  };
}
