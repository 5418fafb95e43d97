import {
  errors,
  instanceClass,
  LATEST,
  pickAliasVersion,
  VERSION_ID_PATTERN,
  type AliasRecord,
  type FunctionRecord,
  type Naming,
  type ServiceRecord,
  type VersionRecord,
} from "@nimbus/protocol";
import type { Mirror } from "@nimbus/store";

/** The concrete function configuration a call runs, and its instance class. */
export interface Target {
  service: string;
  fn: string;
  /** As the caller wrote it (LATEST when absent): LATEST, a version id or an alias. */
  qualifier: string;
  /** The concrete version that runs; undefined for LATEST. */
  versionId: string | undefined;
  record: FunctionRecord;
  /** The service's configuration as that version froze it (LATEST: as it is now). */
  serviceRecord: ServiceRecord;
  cls: string;
}

export interface ResolverMirrors {
  services: Mirror<ServiceRecord>;
  functions: Mirror<FunctionRecord>;
  versions: Mirror<VersionRecord>;
  versionFunctions: Mirror<FunctionRecord>;
  aliases: Mirror<AliasRecord>;
}

/**
 * Resolves `service[.qualifier]/function` against watched metadata — never the network — the same
 * way wherever a call starts (gateway, async queue, triggers), with FC's not-found errors. An alias
 * picks its additional version with that version's weight as probability, once per call.
 */
export class TargetResolver {
  constructor(
    private readonly mirrors: ResolverMirrors,
    private readonly naming: Naming,
    private readonly random: () => number = Math.random,
  ) {}

  resolve(service: string, qualifier: string | undefined, fn: string): Target {
    const current = this.mirrors.services.get(this.naming.kvKeys.service(service))?.value;
    if (!current) throw errors.serviceNotFound(service);
    const q = qualifier ?? LATEST;
    if (q === LATEST) {
      const record = this.mirrors.functions.get(this.naming.kvKeys.function(service, fn))?.value;
      if (!record) throw errors.functionNotFound(service, fn);
      return { service, fn, qualifier: q, versionId: undefined, record, serviceRecord: current, cls: instanceClass(record, LATEST) };
    }
    const versionId = VERSION_ID_PATTERN.test(q) ? q : pickAliasVersion(this.alias(service, q), this.random());
    const { version, record } = this.version(service, versionId, fn);
    return { service, fn, qualifier: q, versionId, record, serviceRecord: version.service, cls: instanceClass(record, versionId) };
  }

  /** An alias of a service (AliasNotFound when it has none of that name). */
  alias(service: string, alias: string): AliasRecord {
    const record = this.mirrors.aliases.get(this.naming.kvKeys.alias(service, alias))?.value;
    if (!record) throw errors.aliasNotFound(service, alias);
    return record;
  }

  /** A version of a service and a function as that version froze it. */
  version(service: string, versionId: string, fn: string): { version: VersionRecord; record: FunctionRecord } {
    const version = this.mirrors.versions.get(this.naming.kvKeys.version(service, versionId))?.value;
    if (!version) throw errors.versionNotFound(service, versionId);
    const record = this.mirrors.versionFunctions.get(this.naming.kvKeys.versionFunction(service, versionId, fn))?.value;
    if (!record) throw errors.functionNotFound(service, fn);
    return { version, record };
  }

  /** The version a qualifier stands for without a weighted pick (an alias: its own version); undefined for LATEST. */
  primaryVersion(service: string, qualifier: string | undefined): string | undefined {
    if (qualifier === undefined || qualifier === LATEST) return undefined;
    if (VERSION_ID_PATTERN.test(qualifier)) {
      if (!this.mirrors.versions.get(this.naming.kvKeys.version(service, qualifier))) throw errors.versionNotFound(service, qualifier);
      return qualifier;
    }
    return this.alias(service, qualifier).versionId;
  }
}
