import {
  aliasVersions,
  errors,
  fcTimestamp,
  serviceDigest,
  type AliasRecord,
  type CounterRecord,
  type FunctionRecord,
  type VersionRecord,
} from "@nimbus/protocol";
import type { KvRepository } from "@nimbus/store";
import { CAS_ATTEMPTS, type GatewayContext } from "../context.js";
import type { ServiceCatalog } from "../services/catalog.js";

export interface VersionPage {
  versions: VersionRecord[];
  nextToken?: string;
  direction: "FORWARD" | "BACKWARD";
}

/**
 * Takes the next id of a counter with compare-and-set: ids are handed out once, even when what
 * took them is deleted later (or never finished being written).
 */
export async function nextId(counters: KvRepository<CounterRecord>, key: string, what: string): Promise<number> {
  for (let attempt = 0; attempt < CAS_ATTEMPTS * 4; attempt++) {
    const current = await counters.get(key);
    const next = (current?.value.last ?? 0) + 1;
    const result = current ? await counters.update(key, { last: next }, current.revision) : await counters.create(key, { last: next });
    if (result !== "conflict" && result !== "exists") return next;
  }
  throw errors.concurrentUpdate(what);
}

/**
 * Service versions: immutable snapshots of a service and every function in it (code and
 * configuration), numbered 1, 2, … and never renumbered. The snapshot's function records are
 * written before the version itself, so a version that exists is always complete.
 */
export class VersionCatalog {
  constructor(
    private readonly ctx: GatewayContext,
    private readonly services: ServiceCatalog,
  ) {}

  /** A version of a service, from the mirror (VersionNotFound). */
  get(service: string, versionId: string): VersionRecord {
    this.services.get(service);
    const found = this.ctx.mirrors.versions.get(this.ctx.naming.kvKeys.version(service, versionId));
    if (!found) throw errors.versionNotFound(service, versionId);
    return found.value;
  }

  /** Every version of a service, oldest first. */
  all(service: string): VersionRecord[] {
    return [...this.ctx.mirrors.versions.withPrefix(this.ctx.naming.kvKeys.version(service, ""))]
      .map(([, v]) => v.value)
      .sort((a, b) => Number(a.versionId) - Number(b.versionId));
  }

  /** The functions of a version, as it froze them. */
  functions(service: string, versionId: string): FunctionRecord[] {
    const version = this.get(service, versionId);
    return version.functions.flatMap((fn) => {
      const found = this.ctx.mirrors.versionFunctions.get(this.ctx.naming.kvKeys.versionFunction(service, versionId, fn));
      return found ? [found.value] : [];
    });
  }

  /** A function as a version froze it (FunctionNotFound when that version has no such function). */
  function(service: string, versionId: string, fn: string): FunctionRecord {
    this.get(service, versionId);
    const found = this.ctx.mirrors.versionFunctions.get(this.ctx.naming.kvKeys.versionFunction(service, versionId, fn));
    if (!found) throw errors.functionNotFound(service, fn);
    return found.value;
  }

  /** FC's listVersions: newest first by default; `startKey`/`nextToken` is the first id to include. */
  list(service: string, query: { limit?: number | undefined; startKey?: string | undefined; nextToken?: string | undefined; direction?: "FORWARD" | "BACKWARD" | undefined }): VersionPage {
    const direction = query.direction ?? "BACKWARD";
    const start = query.nextToken ?? query.startKey;
    let versions = this.all(service);
    if (direction === "BACKWARD") versions = versions.reverse();
    if (start !== undefined) {
      const from = Number(start);
      versions = versions.filter((v) => (direction === "BACKWARD" ? Number(v.versionId) <= from : Number(v.versionId) >= from));
    }
    const limit = query.limit ?? 20;
    const next = versions[limit];
    return { versions: versions.slice(0, limit), direction, ...(next ? { nextToken: next.versionId } : {}) };
  }

  /** Publishes the service as it is now; refused when nothing changed since the newest version. */
  async publish(service: string, description: string): Promise<VersionRecord> {
    const { store, naming } = this.ctx;
    const current = await store.services.get(naming.kvKeys.service(service));
    if (!current) throw errors.serviceNotFound(service);
    const functions: FunctionRecord[] = [];
    for (const key of await store.functions.keys(naming.kvKeys.functionsOf(service))) {
      const found = await store.functions.get(key);
      if (found) functions.push(found.value);
    }
    const digest = serviceDigest(current.value, functions);
    const newest = this.all(service).at(-1);
    if (newest && newest.digest === digest) throw errors.noChangeToPublish(service);

    const versionId = String(await nextId(store.counters, naming.kvKeys.serviceVersionCounter(service), `the versions of service '${service}'`));
    const now = fcTimestamp();
    const record: VersionRecord = {
      serviceName: service,
      versionId,
      description,
      service: current.value,
      functions: functions.map((f) => f.functionName).sort(),
      digest,
      createdTime: now,
      lastModifiedTime: now,
    };
    try {
      await Promise.all(functions.map((f) => store.versionFunctions.put(naming.kvKeys.versionFunction(service, versionId, f.functionName), f)));
      await store.versions.put(naming.kvKeys.version(service, versionId), record);
    } catch (err) {
      await this.removeSnapshots(service, versionId).catch(() => undefined);
      throw err;
    }
    // A delete of the service that checked for versions before this one existed must now fail.
    if (!(await this.services.touch(service))) {
      await this.remove(service, versionId).catch(() => undefined);
      throw errors.serviceNotFound(service);
    }
    return record;
  }

  /** Deletes a version no alias points to (an alias created meanwhile makes the delete retry and refuse). */
  async delete(service: string, versionId: string): Promise<void> {
    const { store, naming } = this.ctx;
    const key = naming.kvKeys.version(service, versionId);
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      if (!(await store.services.get(naming.kvKeys.service(service)))) throw errors.serviceNotFound(service);
      const current = await store.versions.get(key);
      if (!current) throw errors.versionNotFound(service, versionId);
      const using = (await this.aliasesFromServer(service)).find((a) => aliasVersions(a).includes(versionId));
      if (using) {
        throw errors.invalidArgument(`version ${versionId} of service '${service}' cannot be deleted: alias '${using.aliasName}' points to it`);
      }
      if ((await store.versions.delete(key, current.revision)) === "deleted") {
        await this.removeSnapshots(service, versionId).catch((err: unknown) => this.ctx.logger.warn({ err, service, versionId }, "leftover version snapshots"));
        return;
      }
    }
    throw errors.concurrentUpdate(`version ${versionId} of service '${service}'`);
  }

  /**
   * Bumps a version's revision without changing it, so a delete that checked for aliases before
   * one pointed to it fails its compare-and-set. False when the version is gone.
   */
  async touch(service: string, versionId: string): Promise<boolean> {
    const key = this.ctx.naming.kvKeys.version(service, versionId);
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const current = await this.ctx.store.versions.get(key);
      if (!current) return false;
      if ((await this.ctx.store.versions.update(key, current.value, current.revision)) !== "conflict") return true;
    }
    throw errors.concurrentUpdate(`version ${versionId} of service '${service}'`);
  }

  private async aliasesFromServer(service: string): Promise<AliasRecord[]> {
    const out: AliasRecord[] = [];
    for (const key of await this.ctx.store.aliases.keys(this.ctx.naming.kvKeys.aliasesOf(service))) {
      const found = await this.ctx.store.aliases.get(key);
      if (found) out.push(found.value);
    }
    return out;
  }

  private async remove(service: string, versionId: string): Promise<void> {
    await this.ctx.store.versions.delete(this.ctx.naming.kvKeys.version(service, versionId));
    await this.removeSnapshots(service, versionId);
  }

  private async removeSnapshots(service: string, versionId: string): Promise<void> {
    const { store, naming } = this.ctx;
    for (const key of await store.versionFunctions.keys(naming.kvKeys.versionFunctionsOf(service, versionId))) await store.versionFunctions.delete(key);
  }
}
