import type { KV, KvEntry } from "@nats-io/kv";
import type { z } from "zod";
import { Mirror } from "./mirror.js";

/** A value with the KV revision it was read at (used for compare-and-set). */
export interface Versioned<T> {
  value: T;
  revision: number;
}

/** JetStream's "wrong last sequence" API error: a compare-and-set lost. */
const WRONG_LAST_SEQUENCE = 10071;

function isWrongLastSequence(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return e?.code === WRONG_LAST_SEQUENCE || (typeof e?.message === "string" && e.message.includes("wrong last sequence"));
}

const encoder = new TextEncoder();

/**
 * Typed, schema-checked records in one KV bucket, with revision-checked writes. When a mirror is
 * attached, every successful write is applied to it at once, so the writer reads its own writes
 * without waiting for the watcher.
 */
export class KvRepository<T> {
  private attached: Mirror<T> | undefined;

  constructor(
    readonly kv: KV,
    private readonly schema: z.ZodType<T>,
    readonly kind: string,
  ) {}

  /** Starts (once) and returns the watched in-memory copy of this bucket. */
  async mirror(onInvalid?: (key: string, err: unknown) => void): Promise<Mirror<T>> {
    if (!this.attached) {
      this.attached = new Mirror(this.kv, (entry) => this.decode(entry), onInvalid);
      await this.attached.start();
    }
    return this.attached;
  }

  /** Reads the current value from the server (not the mirror). */
  async get(key: string): Promise<Versioned<T> | undefined> {
    const entry = await this.kv.get(key);
    if (!entry || entry.operation !== "PUT") return undefined;
    return { value: this.decode(entry), revision: entry.revision };
  }

  /** Creates `key`; returns its revision, or "exists" when the key is already there. */
  async create(key: string, value: T): Promise<number | "exists"> {
    try {
      const revision = await this.kv.create(key, this.encode(value));
      this.attached?.apply(key, value, revision);
      return revision;
    } catch (err) {
      if (isWrongLastSequence(err)) return "exists";
      throw err;
    }
  }

  /** Writes `key` whatever it holds (last writer wins); returns the new revision. */
  async put(key: string, value: T): Promise<number> {
    const revision = await this.kv.put(key, this.encode(value));
    this.attached?.apply(key, value, revision);
    return revision;
  }

  /** Replaces `key` if it is still at `revision`; returns the new revision, or "conflict". */
  async update(key: string, value: T, revision: number): Promise<number | "conflict"> {
    try {
      const next = await this.kv.update(key, this.encode(value), revision);
      this.attached?.apply(key, value, next);
      return next;
    } catch (err) {
      if (isWrongLastSequence(err)) return "conflict";
      throw err;
    }
  }

  /** Deletes `key` if it is still at `revision` (or unconditionally); returns "conflict" when it moved on. */
  async delete(key: string, revision?: number): Promise<"deleted" | "conflict"> {
    try {
      await this.kv.delete(key, revision === undefined ? undefined : { previousSeq: revision });
      this.attached?.remove(key);
      return "deleted";
    } catch (err) {
      if (isWrongLastSequence(err)) return "conflict";
      throw err;
    }
  }

  /** Keys currently present on the server, optionally filtered (`svc.*`). */
  async keys(filter?: string): Promise<string[]> {
    const iter = await this.kv.keys(filter);
    const keys: string[] = [];
    for await (const key of iter) keys.push(key);
    return keys;
  }

  private encode(value: T): Uint8Array {
    return encoder.encode(JSON.stringify(value));
  }

  private decode(entry: KvEntry): T {
    return this.schema.parse(entry.json());
  }
}
