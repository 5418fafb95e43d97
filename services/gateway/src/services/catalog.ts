import { randomUUID } from "node:crypto";
import {
  errors,
  fcTimestamp,
  LATEST,
  VERSION_ID_PATTERN,
  type ServiceRecord,
  type ServiceSpec,
} from "@nimbus/protocol";
import type { Versioned } from "@nimbus/store";
import { CAS_ATTEMPTS, type GatewayContext, type WriteGuard } from "../context.js";

/** Service CRUD on the control plane: revision-checked writes, reads from the watched mirror. */
export class ServiceCatalog {
  constructor(private readonly ctx: GatewayContext) {}

  /** The current record from the mirror, or ServiceNotFound. */
  get(name: string): ServiceRecord {
    const found = this.ctx.mirrors.services.get(this.ctx.naming.kvKeys.service(name));
    if (!found) throw errors.serviceNotFound(name);
    return found.value;
  }

  /**
   * The service as seen through a qualifier. Only LATEST exists until versions do; a version id or
   * alias that does not exist is FC's VersionNotFound / AliasNotFound.
   */
  getQualified(name: string, qualifier: string | undefined): ServiceRecord {
    const record = this.get(name);
    if (qualifier === undefined || qualifier === LATEST) return record;
    throw VERSION_ID_PATTERN.test(qualifier) ? errors.versionNotFound(name, qualifier) : errors.aliasNotFound(name, qualifier);
  }

  all(): ServiceRecord[] {
    return [...this.ctx.mirrors.services.values()].map((v) => v.value);
  }

  async create(serviceName: string, spec: ServiceSpec): Promise<ServiceRecord> {
    const now = fcTimestamp();
    const record: ServiceRecord = {
      ...spec,
      serviceName,
      serviceId: randomUUID(),
      tags: {},
      createdTime: now,
      lastModifiedTime: now,
    };
    const result = await this.ctx.store.services.create(this.ctx.naming.kvKeys.service(serviceName), record);
    if (result === "exists") throw errors.serviceExists(serviceName);
    return record;
  }

  /** Applies `change` to the current record with compare-and-set, re-reading on conflict. */
  async modify(name: string, change: (current: ServiceRecord) => ServiceRecord, guard: WriteGuard<ServiceRecord> = {}): Promise<ServiceRecord> {
    const key = this.ctx.naming.kvKeys.service(name);
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const current = await this.read(name);
      guard.check?.(current.value);
      const next = change(current.value);
      const result = await this.ctx.store.services.update(key, next, current.revision);
      if (result !== "conflict") return next;
      if (guard.strict) throw errors.preconditionFailed();
    }
    throw errors.concurrentUpdate(`service '${name}'`);
  }

  async update(name: string, spec: ServiceSpec, guard: WriteGuard<ServiceRecord> = {}): Promise<ServiceRecord> {
    return this.modify(name, (current) => ({ ...current, ...spec, lastModifiedTime: fcTimestamp() }), guard);
  }

  /** Deletes a service that has no functions; a function created meanwhile makes the delete retry and refuse. */
  async delete(name: string, guard: WriteGuard<ServiceRecord> = {}): Promise<void> {
    const key = this.ctx.naming.kvKeys.service(name);
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const current = await this.read(name);
      guard.check?.(current.value);
      const functions = await this.ctx.store.functions.keys(this.ctx.naming.kvKeys.functionsOf(name));
      if (functions.length > 0) throw errors.serviceNotEmpty(name, "functions");
      const result = await this.ctx.store.services.delete(key, current.revision);
      if (result === "deleted") return;
      if (guard.strict) throw errors.preconditionFailed();
    }
    throw errors.concurrentUpdate(`service '${name}'`);
  }

  /**
   * Bumps the service's revision without changing it, so that a delete that checked for functions
   * before ours was created fails its compare-and-set. Returns false when the service is gone.
   */
  async touch(name: string): Promise<boolean> {
    const key = this.ctx.naming.kvKeys.service(name);
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const current = await this.ctx.store.services.get(key);
      if (!current) return false;
      if ((await this.ctx.store.services.update(key, current.value, current.revision)) !== "conflict") return true;
    }
    throw errors.concurrentUpdate(`service '${name}'`);
  }

  /** The current record and revision from the server (not the mirror): writes must start from it. */
  private async read(name: string): Promise<Versioned<ServiceRecord>> {
    const current = await this.ctx.store.services.get(this.ctx.naming.kvKeys.service(name));
    if (!current) throw errors.serviceNotFound(name);
    return current;
  }
}
