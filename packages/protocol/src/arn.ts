import { NAME_PATTERN } from "./names.js";

/** Where an ARN points; region and account are this installation's. */
export interface ArnContext {
  region: string;
  accountId: string;
}

/** `acs:fc:{region}:{account}:services/{service}` — the resource FC 2.0 tags. */
export function serviceArn(ctx: ArnContext, service: string): string {
  return `acs:fc:${ctx.region}:${ctx.accountId}:services/${service}`;
}

const SERVICE_ARN = /^acs:fc:([^:]*):([^:]*):services\/([^/]+)$/;
const SHORT_SERVICE_ARN = /^services\/([^/]+)$/;

export interface ParsedServiceArn {
  region: string;
  accountId: string;
  service: string;
}

/** Parses a service ARN, full or FC's short `services/{name}` form; undefined when it is not one. */
export function parseServiceArn(arn: string): ParsedServiceArn | undefined {
  const short = SHORT_SERVICE_ARN.exec(arn);
  if (short) return NAME_PATTERN.test(short[1] ?? "") ? { region: "", accountId: "", service: short[1] ?? "" } : undefined;
  const m = SERVICE_ARN.exec(arn);
  if (!m || !NAME_PATTERN.test(m[3] ?? "")) return undefined;
  return { region: m[1] ?? "", accountId: m[2] ?? "", service: m[3] ?? "" };
}
