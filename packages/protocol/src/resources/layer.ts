import { z } from "zod";
import { Limits } from "../limits.js";
import { NAME_PATTERN } from "../names.js";
import { isCustomContainer, isSupportedRuntime } from "../runtimes.js";
import { intField } from "../validation.js";
import { CodeInput } from "./function.js";

// Image functions take no layers, so no layer is compatible with custom-container.
const runtimeName = z.string().refine((v) => isSupportedRuntime(v) && !isCustomContainer(v), { error: (i) => `compatibleRuntime '${String(i.input)}' is not a runtime Nimbus knows` });

/** Body of `POST /layers/{name}/versions`. */
export const PublishLayerVersionBody = z.object({
  description: z.string().max(Limits.descriptionChars, { error: `must be at most ${Limits.descriptionChars} characters` }).optional(),
  code: CodeInput,
  compatibleRuntime: z.array(runtimeName).min(1, { error: "name at least one runtime" }).max(20),
  license: z.string().max(256).optional(),
});
export type PublishLayerVersionBody = z.output<typeof PublishLayerVersionBody>;

/**
 * One version of a layer as stored in KV. A deleted version stays, marked, for the functions that
 * already use it (FC: deleting a layer version does not break functions configured with it); it is
 * gone from every listing and cannot be added to a function any more.
 */
export const LayerVersionRecord = z.object({
  layerName: z.string(),
  version: z.number().int().min(1),
  description: z.string(),
  codeSize: z.number().int(),
  codeChecksum: z.string(),
  codeSha256: z.string(),
  compatibleRuntime: z.array(z.string()),
  license: z.string(),
  createTime: z.string(),
  deleted: z.boolean().default(false),
  /** FC's ACL of the layer (putLayerACL): 0 private, 1 public; every version of a layer has the layer's. */
  acl: z.number().int().min(0).max(1).default(0),
});
export type LayerVersionRecord = z.output<typeof LayerVersionRecord>;

const LAYER_VERSION_ARN = /^acs:fc:([^:]*):([^:]*):layers\/([A-Za-z_][A-Za-z0-9_-]{0,127})\/versions\/([1-9][0-9]{0,9})$/;

/** `acs:fc:{region}:{account}:layers/{name}/versions/{n}` */
export function layerVersionArn(ctx: { region: string; accountId: string }, layer: string, version: number): string {
  return `acs:fc:${ctx.region}:${ctx.accountId}:layers/${layer}/versions/${version}`;
}

/** Parses a layer version ARN; undefined when it is not one. */
export function parseLayerVersionArn(arn: string): { region: string; accountId: string; layer: string; version: number } | undefined {
  const m = LAYER_VERSION_ARN.exec(arn);
  if (!m || !NAME_PATTERN.test(m[3] ?? "")) return undefined;
  return { region: m[1] ?? "", accountId: m[2] ?? "", layer: m[3] ?? "", version: Number(m[4]) };
}

const LAYER_VERSION_ARN_V1 = /^([^#\s]{1,64})#([A-Za-z_][A-Za-z0-9_-]{0,127})#([1-9][0-9]{0,9})$/;

/** Parses FC's older layer version `arn` (`{account}#{name}#{n}`, which publishLayerVersion still returns); undefined when it is not one. */
export function parseLayerVersionArnV1(arn: string): { accountId: string; layer: string; version: number } | undefined {
  const m = LAYER_VERSION_ARN_V1.exec(arn);
  if (!m || !NAME_PATTERN.test(m[2] ?? "")) return undefined;
  return { accountId: m[1] ?? "", layer: m[2] ?? "", version: Number(m[3]) };
}

/** A layer version as FC's API returns it; `location` is where its code can be downloaded. */
export function layerVersionView(record: LayerVersionRecord, ctx: { region: string; accountId: string }, location = "") {
  return {
    layerName: record.layerName,
    version: record.version,
    description: record.description,
    code: { repositoryType: "Nimbus", location },
    codeSize: record.codeSize,
    codeChecksum: record.codeChecksum,
    createTime: record.createTime,
    acl: record.acl,
    compatibleRuntime: record.compatibleRuntime,
    license: record.license,
    arn: `${ctx.accountId}#${record.layerName}#${record.version}`,
    arnV2: layerVersionArn(ctx, record.layerName, record.version),
    layerVersionArn: layerVersionArn(ctx, record.layerName, record.version),
  };
}

/** Query of `GET /layers/{name}/versions`. */
export const ListLayerVersionsQuery = z.object({
  startVersion: intField(1, 1_000_000_000).optional(),
  limit: intField(1, Limits.listLimitMax).optional(),
});
