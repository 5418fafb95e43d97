import { errors, instanceClass, LATEST, type FunctionRecord, type NimbusError, type ServiceRecord } from "@nimbus/protocol";
import type { InvokeRequest } from "@nimbus/protocol/wire";
import type { Mirror } from "@nimbus/store";

export type Resolution = { record: FunctionRecord; service: ServiceRecord } | { stale: true } | { failed: NimbusError };

/** How long to wait for this node's metadata to catch up with the caller's. */
const CATCH_UP_MS = 1_000;

/**
 * Finds the function configuration a request was resolved against. The caller saw it in its own
 * watched copy; ours may be a few milliseconds behind, so a mismatch waits briefly for the watcher
 * before it is reported as stale (the caller then resolves again).
 */
export class Resolver {
  constructor(
    private readonly services: Mirror<ServiceRecord>,
    private readonly functions: Mirror<FunctionRecord>,
  ) {}

  async resolve(req: InvokeRequest): Promise<Resolution> {
    const key = `${req.service}.${req.function}`;
    const versionId = req.versionId ?? LATEST;
    const deadline = Date.now() + CATCH_UP_MS;
    for (;;) {
      const record = this.functions.get(key)?.value;
      const service = this.services.get(req.service)?.value;
      if (record && service && instanceClass(record, versionId) === req.cls) return { record, service };
      const left = deadline - Date.now();
      if (left <= 0) {
        if (!service) return { failed: errors.serviceNotFound(req.service) };
        if (!record) return { failed: errors.functionNotFound(req.service, req.function) };
        return { stale: true };
      }
      await this.changeOf(key, left);
    }
  }

  private changeOf(key: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const stop = this.functions.onChange((changed) => {
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
