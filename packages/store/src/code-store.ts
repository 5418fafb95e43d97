import type { ObjectStore } from "@nats-io/obj";
import type { Naming } from "@nimbus/protocol";

const TOUCHED = "nimbus-touched";

/**
 * Code packages and layer zips in the NATS Object Store, content-addressed by SHA-256, so the same
 * zip uploaded twice is stored once and an invoker's on-disk cache can be keyed by the same name.
 */
export class CodeStore {
  constructor(
    private readonly os: ObjectStore,
    private readonly naming: Naming,
  ) {}

  /** True when a package with this SHA-256 is stored. */
  async has(sha256: string): Promise<boolean> {
    const info = await this.os.info(this.naming.objects.code(sha256));
    return info !== null && !info.deleted;
  }

  /**
   * Stores a package unless it is already there, in which case it is marked as just used, so a
   * garbage collection racing with this upload leaves it alone. `created` says whether this call wrote it.
   */
  async put(sha256: string, data: Uint8Array): Promise<{ created: boolean }> {
    const name = this.naming.objects.code(sha256);
    if (await this.has(sha256)) {
      await this.os.update(name, { metadata: { [TOUCHED]: new Date().toISOString() } });
      return { created: false };
    }
    await this.os.putBlob({ name }, data);
    return { created: true };
  }

  /** The whole package (the object store verifies its digest), or undefined if absent. */
  async get(sha256: string): Promise<Uint8Array | undefined> {
    return (await this.os.getBlob(this.naming.objects.code(sha256))) ?? undefined;
  }

  /** The package as a stream, with its size, or undefined if absent. */
  async stream(sha256: string): Promise<{ size: number; data: ReadableStream<Uint8Array> } | undefined> {
    const result = await this.os.get(this.naming.objects.code(sha256));
    if (!result) return undefined;
    return { size: result.info.size, data: result.data };
  }

  async delete(sha256: string): Promise<void> {
    if (await this.has(sha256)) await this.os.delete(this.naming.objects.code(sha256));
  }

  /** Every stored package: its SHA-256, size, and when it was last written or re-uploaded. */
  async list(): Promise<{ sha256: string; size: number; lastUsed: Date }[]> {
    const prefix = this.naming.objects.code("");
    return (await this.os.list())
      .filter((info) => !info.deleted && info.name.startsWith(prefix))
      .map((info) => {
        const touched = info.metadata?.[TOUCHED];
        const times = [Date.parse(info.mtime), touched ? Date.parse(touched) : 0].filter((t) => !Number.isNaN(t));
        return { sha256: info.name.slice(prefix.length), size: info.size, lastUsed: new Date(Math.max(...times)) };
      });
  }
}
