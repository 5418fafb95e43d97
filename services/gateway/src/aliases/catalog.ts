import {
  aliasVersions,
  errors,
  fcTimestamp,
  NimbusError,
  type AliasRecord,
  type CreateAliasBody,
  type UpdateAliasBody,
} from "@nimbus/protocol";
import { CAS_ATTEMPTS, type GatewayContext, type WriteGuard } from "../context.js";
import type { ServiceCatalog } from "../services/catalog.js";
import type { VersionCatalog } from "../versions/catalog.js";

/**
 * Aliases: a name for a version of a service, optionally sending a share of the calls to one more
 * version. Every version an alias names must exist, and keeps existing while it does: the alias is
 * written first, then the versions are touched, so a version delete that raced with it fails.
 */
export class AliasCatalog {
  constructor(
    private readonly ctx: GatewayContext,
    private readonly services: ServiceCatalog,
    private readonly versions: VersionCatalog,
  ) {}

  get(service: string, alias: string): AliasRecord {
    this.services.get(service);
    const found = this.ctx.mirrors.aliases.get(this.ctx.naming.kvKeys.alias(service, alias));
    if (!found) throw errors.aliasNotFound(service, alias);
    return found.value;
  }

  list(service: string): AliasRecord[] {
    this.services.get(service);
    return [...this.ctx.mirrors.aliases.withPrefix(this.ctx.naming.kvKeys.alias(service, ""))].map(([, v]) => v.value);
  }

  async create(service: string, body: CreateAliasBody): Promise<AliasRecord> {
    this.services.get(service);
    const now = fcTimestamp();
    const record: AliasRecord = {
      serviceName: service,
      aliasName: body.aliasName,
      versionId: body.versionId,
      description: body.description ?? "",
      additionalVersionWeight: body.additionalVersionWeight ?? {},
      createdTime: now,
      lastModifiedTime: now,
    };
    this.check(record);
    const key = this.ctx.naming.kvKeys.alias(service, body.aliasName);
    if ((await this.ctx.store.aliases.create(key, record)) === "exists") throw errors.aliasExists(service, body.aliasName);
    await this.pin(record, async () => {
      await this.ctx.store.aliases.delete(key);
    });
    return record;
  }

  /** The stored alias, checked against `guard` (AliasNotFound, or ServiceNotFound when the service is gone). */
  private async stored(service: string, alias: string, key: string, guard: WriteGuard<AliasRecord>) {
    const current = await this.ctx.store.aliases.get(key);
    if (!current) {
      this.services.get(service);
      throw errors.aliasNotFound(service, alias);
    }
    guard.check?.(current.value);
    return current;
  }

  async update(service: string, alias: string, body: UpdateAliasBody, guard: WriteGuard<AliasRecord> = {}): Promise<AliasRecord> {
    const key = this.ctx.naming.kvKeys.alias(service, alias);
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const current = await this.stored(service, alias, key, guard);
      const next: AliasRecord = {
        ...current.value,
        ...(body.versionId === undefined ? {} : { versionId: body.versionId }),
        ...(body.description === undefined ? {} : { description: body.description }),
        ...(body.additionalVersionWeight === undefined ? {} : { additionalVersionWeight: body.additionalVersionWeight }),
        lastModifiedTime: fcTimestamp(),
      };
      this.check(next);
      const revision = await this.ctx.store.aliases.update(key, next, current.revision);
      if (revision === "conflict") {
        if (guard.strict) throw errors.preconditionFailed();
        continue;
      }
      await this.pin(next, async () => {
        await this.ctx.store.aliases.put(key, current.value);
      });
      return next;
    }
    throw errors.concurrentUpdate(`alias '${alias}' of service '${service}'`);
  }

  async delete(service: string, alias: string, guard: WriteGuard<AliasRecord> = {}): Promise<void> {
    const key = this.ctx.naming.kvKeys.alias(service, alias);
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const current = await this.stored(service, alias, key, guard);
      const provisioned = [...this.ctx.mirrors.provisionConfigs.values()].find(
        (p) => p.value.serviceName === service && p.value.qualifier === alias && p.value.target > 0,
      );
      if (provisioned) {
        throw errors.invalidArgument(`alias '${alias}' keeps ${provisioned.value.target} provisioned instances of function '${provisioned.value.functionName}': set its target to 0 first`);
      }
      if ((await this.ctx.store.aliases.delete(key, current.revision)) === "deleted") return;
      if (guard.strict) throw errors.preconditionFailed();
    }
    throw errors.concurrentUpdate(`alias '${alias}' of service '${service}'`);
  }

  /** FC's rules: the versions exist, and the extra version is not the alias's own. */
  private check(record: AliasRecord): void {
    this.versions.get(record.serviceName, record.versionId);
    for (const version of Object.keys(record.additionalVersionWeight)) {
      if (version === record.versionId) {
        throw new NimbusError(
          "AdditionalVersionContainsMajorVersion",
          `additionalVersionWeight ${JSON.stringify(record.additionalVersionWeight)} should not contain major version ${record.versionId}`,
        );
      }
      this.versions.get(record.serviceName, version);
    }
  }

  /** Touches every version the alias names; if one was deleted meanwhile, undoes the write and says so. */
  private async pin(record: AliasRecord, undo: () => Promise<void>): Promise<void> {
    for (const version of aliasVersions(record)) {
      if (!(await this.versions.touch(record.serviceName, version))) {
        await undo().catch(() => undefined);
        throw errors.versionNotFound(record.serviceName, version);
      }
    }
  }
}
