import {
  errors,
  fcTimestamp,
  layerVersionArn,
  parseLayerVersionArn,
  parseLayerVersionArnV1,
  type FunctionRecord,
  type LayerVersionRecord,
  type PublishLayerVersionBody,
} from "@nimbus/protocol";
import { CAS_ATTEMPTS, type GatewayContext } from "../context.js";
import { ingestCode, type CodeLimits } from "../code/ingest.js";
import { nextId } from "../versions/catalog.js";

/**
 * Layers: versioned dependency packages a function mounts under `/opt` (up to five, in order).
 * Versions count 1, 2, … per layer and are never reused; a deleted version stays usable by the
 * functions that already name it, and is dropped once none does.
 */
export class LayerCatalog {
  constructor(
    private readonly ctx: GatewayContext,
    private readonly codeLimits: CodeLimits,
  ) {}

  async publish(layer: string, body: PublishLayerVersionBody): Promise<LayerVersionRecord> {
    const stored = await ingestCode(body.code.zipFile ?? "", this.ctx.store.code, this.codeLimits);
    const version = await nextId(this.ctx.store.counters, this.ctx.naming.kvKeys.layerVersionCounter(layer), `the versions of layer '${layer}'`);
    const record: LayerVersionRecord = {
      layerName: layer,
      version,
      description: body.description ?? "",
      codeSize: stored.codeSize,
      codeChecksum: stored.codeChecksum,
      codeSha256: stored.codeSha256,
      compatibleRuntime: body.compatibleRuntime,
      license: body.license ?? "",
      createTime: fcTimestamp(),
      deleted: false,
      acl: this.versions(layer).at(-1)?.acl ?? 0,
    };
    await this.ctx.store.layers.put(this.ctx.naming.kvKeys.layerVersion(layer, version), record);
    return record;
  }

  /** Sets a layer's ACL (FC's putLayerACL) on every version it has; later versions take it too. */
  async setAcl(layer: string, acl: 0 | 1): Promise<void> {
    if (this.versions(layer).length === 0) throw errors.layerNotFound(layer);
    for (const key of await this.ctx.store.layers.keys(`${layer}.*`)) {
      for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
        const current = await this.ctx.store.layers.get(key);
        if (!current || current.value.acl === acl) break;
        if ((await this.ctx.store.layers.update(key, { ...current.value, acl }, current.revision)) !== "conflict") break;
      }
    }
  }

  /** A live version of a layer (LayerNotFound for one that never was, or was deleted). */
  get(layer: string, version: number): LayerVersionRecord {
    const found = this.ctx.mirrors.layers.get(this.ctx.naming.kvKeys.layerVersion(layer, version))?.value;
    if (!found || found.deleted) throw errors.layerNotFound(layer, version);
    return found;
  }

  byArn(arn: string): LayerVersionRecord {
    const parsed = parseLayerVersionArn(arn);
    if (!parsed) throw errors.invalidArgument(`'${arn.slice(0, 300)}' is not a layer version ARN (acs:fc:{region}:{account}:layers/{name}/versions/{n})`);
    if (parsed.accountId !== this.ctx.arn.accountId || parsed.region !== this.ctx.arn.region) throw errors.layerNotFound(parsed.layer, parsed.version);
    return this.get(parsed.layer, parsed.version);
  }

  /** The live versions of a layer, oldest first. */
  versions(layer: string): LayerVersionRecord[] {
    return [...this.ctx.mirrors.layers.withPrefix(`${layer}.`)]
      .map(([, v]) => v.value)
      .filter((v) => !v.deleted)
      .sort((a, b) => a.version - b.version);
  }

  /** Every layer's newest live version. */
  latest(): LayerVersionRecord[] {
    const newest = new Map<string, LayerVersionRecord>();
    for (const { value } of this.ctx.mirrors.layers.values()) {
      if (value.deleted) continue;
      const seen = newest.get(value.layerName);
      if (!seen || seen.version < value.version) newest.set(value.layerName, value);
    }
    return [...newest.values()];
  }

  async delete(layer: string, version: number): Promise<void> {
    const key = this.ctx.naming.kvKeys.layerVersion(layer, version);
    const current = await this.ctx.store.layers.get(key);
    if (!current || current.value.deleted) throw errors.layerNotFound(layer, version);
    const inUse = this.usedBy(layerVersionArn(this.ctx.arn, layer, version));
    if (inUse) await this.ctx.store.layers.put(key, { ...current.value, deleted: true });
    else await this.ctx.store.layers.delete(key);
  }

  /**
   * A function's layers as stored and read back: each as its arnV2, whichever of FC's two forms was
   * written (an `arn`, `{account}#{name}#{n}`, names a layer of this account and region).
   */
  canonical(arns: readonly string[] | undefined): string[] | undefined {
    return arns?.map((arn) => {
      const v1 = parseLayerVersionArnV1(arn);
      if (!v1) return arn;
      if (v1.accountId !== this.ctx.arn.accountId) throw errors.invalidArgument(`layers: ${arn} names a layer of account ${v1.accountId}, not of this one (${this.ctx.arn.accountId})`);
      return layerVersionArn(this.ctx.arn, v1.layer, v1.version);
    });
  }

  /** Checks the layers a function is given: each must be a live version of a layer of this account. */
  check(arns: readonly string[] | undefined, runtime: string): void {
    const seen = new Set<string>();
    for (const arn of arns ?? []) {
      if (seen.has(arn)) throw errors.invalidArgument(`layer ${arn} is listed twice`);
      seen.add(arn);
      let record: LayerVersionRecord;
      try {
        record = this.byArn(arn);
      } catch (err) {
        throw errors.invalidArgument(`layers: ${(err as Error).message}`);
      }
      if (!record.compatibleRuntime.includes(runtime)) {
        throw errors.invalidArgument(`layers: ${arn} is compatible with ${record.compatibleRuntime.join(", ")}, not with ${runtime}`);
      }
    }
  }

  /** The first function (LATEST or a version) that names this layer version ARN, if any. */
  private usedBy(arn: string): FunctionRecord | undefined {
    for (const fns of [this.ctx.mirrors.functions, this.ctx.mirrors.versionFunctions]) {
      for (const { value } of fns.values()) if (value.layers?.includes(arn)) return value;
    }
    return undefined;
  }
}

