import type { ObjectStore } from "@nats-io/obj";

/**
 * Invocation payloads and results too big for one NATS message, parked under a request-scoped
 * name for the other side to fetch. The bucket's TTL removes anything a crash left behind.
 */
export class PayloadStore {
  constructor(private readonly os: ObjectStore) {}

  async put(name: string, data: Uint8Array): Promise<void> {
    await this.os.putBlob({ name }, data);
  }

  /** Fetches and deletes (each payload is read once). */
  async take(name: string): Promise<Uint8Array> {
    const data = await this.os.getBlob(name);
    if (!data) throw new Error(`payload '${name}' is gone`);
    void this.os.delete(name).catch(() => undefined);
    return data;
  }
}
