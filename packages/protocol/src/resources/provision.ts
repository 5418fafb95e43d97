import { z } from "zod";
import { boolField, intField } from "../validation.js";
import { ScheduledAction, TargetTrackingPolicy } from "./provision-policy.js";

/** The most provisioned instances one function (qualifier) may ask for. */
export const MAX_PROVISION_TARGET = 10_000;

/** Body of `PUT …/provision-config` (see provision-policy.ts for what the policies do). */
export const PutProvisionConfigBody = z.object({
  target: intField(0, MAX_PROVISION_TARGET),
  alwaysAllocateCPU: boolField().optional(),
  scheduledActions: z.array(ScheduledAction).max(100).optional(),
  targetTrackingPolicies: z.array(TargetTrackingPolicy).max(100).optional(),
});

/** A provision config as stored in KV (key `svc.qualifier.fn`). */
export const ProvisionConfigRecord = z.object({
  serviceName: z.string(),
  qualifier: z.string(),
  functionName: z.string(),
  target: z.number().int().min(0),
  alwaysAllocateCPU: z.boolean(),
  // Loose as stored (records from before the policies were checked still load); acted on through policiesOf().
  scheduledActions: z.array(z.record(z.string(), z.unknown())),
  targetTrackingPolicies: z.array(z.record(z.string(), z.unknown())),
  lastModifiedTime: z.string(),
});
export type ProvisionConfigRecord = z.output<typeof ProvisionConfigRecord>;

/** A config's policies that are well-formed (every one written since they are checked). */
export function policiesOf(record: ProvisionConfigRecord): { actions: ScheduledAction[]; policies: TargetTrackingPolicy[] } {
  const actions = record.scheduledActions.flatMap((a) => {
    const parsed = ScheduledAction.safeParse(a);
    return parsed.success ? [parsed.data] : [];
  });
  const policies = record.targetTrackingPolicies.flatMap((p) => {
    const parsed = TargetTrackingPolicy.safeParse(p);
    return parsed.success ? [parsed.data] : [];
  });
  return { actions, policies };
}

/** FC's resource string of a provision config: `{account}#{service}#{qualifier}#{function}`. */
export function provisionResource(accountId: string, service: string, qualifier: string, fn: string): string {
  return `${accountId}#${service}#${qualifier}#${fn}`;
}

export function provisionView(record: ProvisionConfigRecord, accountId: string, current: number) {
  return {
    resource: provisionResource(accountId, record.serviceName, record.qualifier, record.functionName),
    target: record.target,
    current,
    currentError: "",
    alwaysAllocateCPU: record.alwaysAllocateCPU,
    scheduledActions: record.scheduledActions,
    targetTrackingPolicies: record.targetTrackingPolicies,
  };
}
