import { randomUUID } from "node:crypto";
import {
  checkFunctionUpdate,
  containerConfigWithDefaults,
  Defaults,
  errors,
  fcTimestamp,
  isCustomContainer,
  mergeContainerConfig,
  NO_CODE_PACKAGE,
  type CreateFunctionBody,
  type CustomContainerConfigRecord,
  type FunctionRecord,
  type ResolvedImageRecord,
  type UpdateFunctionBody,
} from "@nimbus/protocol";
import { CAS_ATTEMPTS, type GatewayContext, type WriteGuard } from "../context.js";
import { ingestCode, type CodeLimits } from "../code/ingest.js";
import type { ImagePinning } from "../images/pinning.js";
import type { LayerCatalog } from "../layers/catalog.js";
import type { ServiceCatalog } from "../services/catalog.js";

/** What functions need of images: pinning a reference to a digest, and pre-pulling what was pinned. */
export interface FunctionImages {
  pinning: ImagePinning;
  prepull(image: ResolvedImageRecord): void;
}

/**
 * Function CRUD: code validated and stored, or an image resolved to its digest, before any metadata
 * is written; revision-checked writes.
 */
export class FunctionCatalog {
  constructor(
    private readonly ctx: GatewayContext,
    private readonly services: ServiceCatalog,
    private readonly codeLimits: CodeLimits,
    private readonly layers: LayerCatalog,
    private readonly images: FunctionImages,
  ) {}

  /** A function of an existing service, from the mirror. */
  get(service: string, fn: string): FunctionRecord {
    this.services.get(service);
    const found = this.ctx.mirrors.functions.get(this.ctx.naming.kvKeys.function(service, fn));
    if (!found) throw errors.functionNotFound(service, fn);
    return found.value;
  }

  /** The function as seen through a qualifier: LATEST now, or as a version (an alias's version) froze it. */
  getQualified(service: string, qualifier: string | undefined, fn: string): FunctionRecord {
    this.services.getQualified(service, qualifier);
    const versionId = this.services.versionOf(service, qualifier);
    if (versionId === undefined) return this.get(service, fn);
    const found = this.ctx.mirrors.versionFunctions.get(this.ctx.naming.kvKeys.versionFunction(service, versionId, fn));
    if (!found) throw errors.functionNotFound(service, fn);
    return found.value;
  }

  /** Every function of a service (which must exist), as seen through a qualifier. */
  list(service: string, qualifier?: string): FunctionRecord[] {
    this.services.getQualified(service, qualifier);
    const versionId = this.services.versionOf(service, qualifier);
    if (versionId === undefined) {
      return [...this.ctx.mirrors.functions.withPrefix(this.ctx.naming.kvKeys.function(service, ""))].map(([, v]) => v.value);
    }
    return [...this.ctx.mirrors.versionFunctions.withPrefix(this.ctx.naming.kvKeys.versionFunction(service, versionId, ""))].map(([, v]) => v.value);
  }

  async create(service: string, body: CreateFunctionBody, expectedChecksum?: string): Promise<FunctionRecord> {
    const { functionName, code, customContainerConfig, ...spec } = body;
    const key = this.ctx.naming.kvKeys.function(service, functionName);
    const image = isCustomContainer(spec.runtime) ? customContainerConfig?.image : undefined;
    if (image !== undefined) this.images.pinning.check(image);
    // Cheap refusals first, from the server (not the mirror), before the package is even decoded.
    if (!(await this.ctx.store.services.get(this.ctx.naming.kvKeys.service(service)))) throw errors.serviceNotFound(service);
    if (await this.ctx.store.functions.get(key)) throw errors.functionExists(service, functionName);
    const layers = this.layers.canonical(spec.layers);
    if (layers) spec.layers = layers;
    this.layers.check(spec.layers, spec.runtime);

    // An image function has no package: its content is the digest its reference names now.
    const content =
      image !== undefined && customContainerConfig
        ? {
            ...NO_CODE_PACKAGE,
            customContainerConfig: containerConfigWithDefaults({ ...customContainerConfig, image }),
            resolvedImage: await this.images.pinning.pin(image),
          }
        : await this.storeCode(code?.zipFile ?? "", expectedChecksum);
    const now = fcTimestamp();
    // FC's numeric defaults (timeout, memory, concurrency…) are not stored: effectiveFunction applies them.
    const record: FunctionRecord = {
      description: "",
      initializer: "",
      environmentVariables: {},
      layers: [],
      ...spec,
      // The schema requires a handler of every code function; images ignore it (FC's too).
      handler: spec.handler ?? Defaults.handler,
      serviceName: service,
      functionName,
      functionId: randomUUID(),
      ...content,
      createdTime: now,
      lastModifiedTime: now,
    };
    if ((await this.ctx.store.functions.create(key, record)) === "exists") throw errors.functionExists(service, functionName);
    // A delete of the service that checked for functions before ours existed must now fail.
    if (!(await this.services.touch(service))) {
      await this.ctx.store.functions.delete(key);
      throw errors.serviceNotFound(service);
    }
    this.prepullIfAccelerated(record.customContainerConfig, record.resolvedImage);
    return record;
  }

  /**
   * Partial update: only the fields sent change; new code is validated and stored first. An update
   * that sends customContainerConfig.image resolves it again (the same tag too: that is how LATEST
   * follows a moved tag); one that does not keeps the pinned digest.
   */
  async update(
    service: string,
    fn: string,
    body: UpdateFunctionBody,
    guard: WriteGuard<FunctionRecord> = {},
    expectedChecksum?: string,
  ): Promise<FunctionRecord> {
    const key = this.ctx.naming.kvKeys.function(service, fn);
    const { code, customContainerConfig: containerPatch, ...spec } = body;
    const layers = this.layers.canonical(spec.layers);
    if (layers) spec.layers = layers;
    await this.current(service, fn).then((c) => {
      guard.check?.(c.value);
      checkFunctionUpdate(c.value, body);
    });
    const image = containerPatch?.image;
    if (image !== undefined) this.images.pinning.check(image);
    const resolvedImage = image !== undefined ? await this.images.pinning.pin(image) : undefined;
    const stored = code ? await this.storeCode(code.zipFile ?? "", expectedChecksum) : undefined;
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const current = await this.current(service, fn);
      guard.check?.(current.value);
      checkFunctionUpdate(current.value, body);
      const container = current.value.customContainerConfig;
      const next: FunctionRecord = {
        ...current.value,
        ...spec,
        ...(stored ?? {}),
        ...(container && containerPatch ? { customContainerConfig: mergeContainerConfig(container, containerPatch) } : {}),
        ...(resolvedImage ? { resolvedImage } : {}),
        lastModifiedTime: fcTimestamp(),
      };
      // Layers already in use stay usable (a deleted layer version included); new ones must be live.
      const runtimeChanged = next.runtime !== current.value.runtime;
      const added = (next.layers ?? []).filter((arn) => runtimeChanged || !(current.value.layers ?? []).includes(arn));
      this.layers.check(added, next.runtime);
      if ((await this.ctx.store.functions.update(key, next, current.revision)) !== "conflict") {
        if (resolvedImage || containerPatch?.accelerationType) this.prepullIfAccelerated(next.customContainerConfig, next.resolvedImage);
        return next;
      }
      if (guard.strict) throw errors.preconditionFailed();
    }
    throw errors.concurrentUpdate(`function '${fn}'`);
  }

  /** Deletes a function that has no triggers (a trigger created meanwhile makes the delete retry and refuse). */
  async delete(service: string, fn: string, guard: WriteGuard<FunctionRecord> = {}): Promise<void> {
    const key = this.ctx.naming.kvKeys.function(service, fn);
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const current = await this.current(service, fn);
      guard.check?.(current.value);
      if ((await this.ctx.store.triggers.keys(this.ctx.naming.kvKeys.triggersOf(service, fn))).length > 0) throw errors.functionNotEmpty(fn);
      if ((await this.ctx.store.functions.delete(key, current.revision)) === "deleted") {
        // Its async and provision configs go with it (a function created later under the same name starts clean).
        for (const config of await this.ctx.store.asyncConfigs.keys(this.ctx.naming.kvKeys.asyncConfigsOf(service, fn))) {
          await this.ctx.store.asyncConfigs.delete(config).catch(() => undefined);
        }
        for (const config of await this.ctx.store.provisionConfigs.keys(this.ctx.naming.kvKeys.provisionConfig(service, "*", fn))) {
          await this.ctx.store.provisionConfigs.delete(config).catch(() => undefined);
        }
        return;
      }
      if (guard.strict) throw errors.preconditionFailed();
    }
    throw errors.concurrentUpdate(`function '${fn}'`);
  }

  /**
   * Bumps the function's revision without changing it, so a delete that checked for triggers before
   * one was created fails its compare-and-set. Returns false when the function is gone.
   */
  async touch(service: string, fn: string): Promise<boolean> {
    const key = this.ctx.naming.kvKeys.function(service, fn);
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const current = await this.ctx.store.functions.get(key);
      if (!current) return false;
      if ((await this.ctx.store.functions.update(key, current.value, current.revision)) !== "conflict") return true;
    }
    throw errors.concurrentUpdate(`function '${fn}'`);
  }

  private async storeCode(zipFile: string, expectedChecksum: string | undefined) {
    const { codeSize, codeChecksum, codeSha256 } = await ingestCode(zipFile, this.ctx.store.code, this.codeLimits, expectedChecksum);
    return { codeSize, codeChecksum, codeSha256 };
  }

  /** accelerationType Default: the invokers pull the image now rather than at the first call. */
  private prepullIfAccelerated(config: CustomContainerConfigRecord | undefined, image: ResolvedImageRecord | undefined): void {
    if (config?.accelerationType === "Default" && image) this.images.prepull(image);
  }

  private async current(service: string, fn: string) {
    if (!(await this.ctx.store.services.get(this.ctx.naming.kvKeys.service(service)))) throw errors.serviceNotFound(service);
    const current = await this.ctx.store.functions.get(this.ctx.naming.kvKeys.function(service, fn));
    if (!current) throw errors.functionNotFound(service, fn);
    return current;
  }
}
