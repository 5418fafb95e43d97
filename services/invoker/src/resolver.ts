import { errors, instanceClass, LATEST, type FunctionRecord, type NimbusError, type ServiceRecord, type VersionRecord } from "@nimbus/protocol";
import type { InvokeRequest } from "@nimbus/protocol/wire";
import type { Mirror } from "@nimbus/store";

export type Resolution = { record: FunctionRecord; service: ServiceRecord } | { stale: true } | { failed: NimbusError };

export interface ResolverMirrors {
  services: Mirror<ServiceRecord>;
  functions: Mirror<FunctionRecord>;
  versions: Mirror<VersionRecord>;
  versionFunctions: Mirror<FunctionRecord>;
}

/** How long to wait for this node's metadata to catch up with the caller's. */
const CATCH_UP_MS = 1_000;

/**
 * Finds the function configuration a request was resolved against — the function as it is now
 * (LATEST) or as a version froze it. The caller saw it in its own watched copy; ours may be a few
 * milliseconds behind, so a mismatch waits briefly for the watcher before it is reported as stale
 * (the caller then resolves again).
 */
export class Resolver {
  constructor(private readonly mirrors: ResolverMirrors) {}

  async resolve(req: InvokeRequest): Promise<Resolution> {
    const versionId = req.versionId ?? LATEST;
    const fnKey = versionId === LATEST ? `${req.service}.${req.function}` : `${req.service}.${versionId}.${req.function}`;
    const fns = versionId === LATEST ? this.mirrors.functions : this.mirrors.versionFunctions;
    const deadline = Date.now() + CATCH_UP_MS;
    for (;;) {
      const record = fns.get(fnKey)?.value;
      const service = versionId === LATEST ? this.mirrors.services.get(req.service)?.value : this.mirrors.versions.get(`${req.service}.${versionId}`)?.value.service;
      if (record && service && instanceClass(record, versionId) === req.cls) return { record, service };
      const left = deadline - Date.now();
      if (left <= 0) {
        if (!service) return { failed: versionId === LATEST ? errors.serviceNotFound(req.service) : errors.versionNotFound(req.service, versionId) };
        if (!record) return { failed: errors.functionNotFound(req.service, req.function) };
        return { stale: true };
      }
      await this.changeOf(fns, fnKey, left);
    }
  }

  private changeOf(fns: Mirror<FunctionRecord>, key: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const stop = fns.onChange((changed) => {
        if (changed === key) finish();
      });
      const timer = setTimeout(finish, Math.min(timeoutMs, 50));
      function finish() {
        clearTimeout(timer);
        stop();
        resolve();
      }
    });
  }
}
