import { errors, instanceClass, LATEST, VERSION_ID_PATTERN, type FunctionRecord, type Naming, type ServiceRecord } from "@nimbus/protocol";
import type { Mirror } from "@nimbus/store";

/** The concrete function configuration a call runs, and its instance class. */
export interface Target {
  service: string;
  fn: string;
  /** As the caller wrote it (LATEST when absent). */
  qualifier: string;
  /** The concrete version; undefined for LATEST. */
  versionId: string | undefined;
  record: FunctionRecord;
  serviceRecord: ServiceRecord;
  cls: string;
}

export interface ResolverMirrors {
  services: Mirror<ServiceRecord>;
  functions: Mirror<FunctionRecord>;
}

/**
 * Resolves `service[.qualifier]/function` against watched metadata — never the network — the same
 * way wherever a call starts (gateway, async queue, triggers), with FC's not-found errors.
 */
export class TargetResolver {
  constructor(
    private readonly mirrors: ResolverMirrors,
    private readonly naming: Naming,
  ) {}

  resolve(service: string, qualifier: string | undefined, fn: string): Target {
    const serviceRecord = this.mirrors.services.get(this.naming.kvKeys.service(service))?.value;
    if (!serviceRecord) throw errors.serviceNotFound(service);
    const q = qualifier ?? LATEST;
    if (q !== LATEST) {
      throw VERSION_ID_PATTERN.test(q) ? errors.versionNotFound(service, q) : errors.aliasNotFound(service, q);
    }
    const record = this.mirrors.functions.get(this.naming.kvKeys.function(service, fn))?.value;
    if (!record) throw errors.functionNotFound(service, fn);
    return { service, fn, qualifier: q, versionId: undefined, record, serviceRecord, cls: instanceClass(record, LATEST) };
  }
}
