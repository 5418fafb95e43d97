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
   * The service as seen through a qualifier: LATEST is the service now; a version (or the version
   * an alias points to) is the service as that version froze it. A version id or alias that does
   * not exist is FC's VersionNotFound / AliasNotFound.
   */
  getQualified(name: string, qualifier: string | undefined): ServiceRecord {
    const record = this.get(name);
    const versionId = this.versionOf(name, qualifier);
    if (versionId === undefined) return record;
    const version = this.ctx.mirrors.versions.get(this.ctx.naming.kvKeys.version(name, versionId));
    if (!version) throw errors.versionNotFound(name, versionId);
    return version.value.service;
  }

  /** The version a qualifier stands for (an alias: the version it points to); undefined for LATEST. */
  versionOf(name: string, qualifier: string | undefined): string | undefined {
    if (qualifier === undefined || qualifier === LATEST) return undefined;
    if (VERSION_ID_PATTERN.test(qualifier)) return qualifier;
    const alias = this.ctx.mirrors.aliases.get(this.ctx.naming.kvKeys.alias(name, qualifier));
    if (!alias) throw errors.aliasNotFound(name, qualifier);
    return alias.value.versionId;
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

  /**
   * Deletes a service that has no functions, aliases or versions (FC's rule); one created meanwhile
   * makes the delete retry and refuse. Its version counter goes with it.
   */
  async delete(name: string, guard: WriteGuard<ServiceRecord> = {}): Promise<void> {
    const key = this.ctx.naming.kvKeys.service(name);
    const { store, naming } = this.ctx;
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const current = await this.read(name);
      guard.check?.(current.value);
      if ((await store.functions.keys(naming.kvKeys.functionsOf(name))).length > 0) throw errors.serviceNotEmpty(name, "functions");
      if ((await store.aliases.keys(naming.kvKeys.aliasesOf(name))).length > 0) throw errors.serviceNotEmpty(name, "aliases");
      if ((await store.versions.keys(naming.kvKeys.versionsOf(name))).length > 0) throw errors.serviceNotEmpty(name, "versions");
      const result = await store.services.delete(key, current.revision);
      if (result === "deleted") {
        await store.counters.delete(naming.kvKeys.serviceVersionCounter(name)).catch(() => undefined);
        return;
      }
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
