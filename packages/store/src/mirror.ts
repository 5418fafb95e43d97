import type { KV, KvEntry, KvWatchEntry } from "@nats-io/kv";
import type { QueuedIterator } from "@nats-io/nats-core";
import type { Versioned } from "./repository.js";

type Listener<T> = (key: string, current: Versioned<T> | undefined) => void;

const RESTART_DELAY_MS = 500;

/**
 * An in-memory copy of a KV bucket kept current by a watcher, so hot paths never read the network
 * for metadata. `start()` resolves once the bucket's current contents are loaded. If the watcher
 * ends (server restart, lost consumer) it is restarted from the last revision seen.
 */
export class Mirror<T> {
  private readonly entries = new Map<string, Versioned<T>>();
  private readonly listeners = new Set<Listener<T>>();
  /** Keys this process deleted, with the revision they had, until the watcher delivers the delete. */
  private readonly tombstones = new Map<string, number>();
  private watcher: QueuedIterator<KvWatchEntry> | undefined;
  private lastRevision = 0;
  private stopped = false;
  private synced = false;

  constructor(
    private readonly kv: KV,
    private readonly decode: (entry: KvEntry) => T,
    private readonly onInvalid: (key: string, err: unknown) => void = () => {},
  ) {}

  /** Loads the current contents and keeps following changes. */
  async start(): Promise<void> {
    const ready = await this.watch();
    await ready;
  }

  /** True once the initial contents are loaded. */
  get ready(): boolean {
    return this.synced;
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): Versioned<T> | undefined {
    return this.entries.get(key);
  }

  /** Every entry, in no particular order. */
  values(): IterableIterator<Versioned<T>> {
    return this.entries.values();
  }

  /** Entries whose key starts with `prefix`. */
  *withPrefix(prefix: string): IterableIterator<[string, Versioned<T>]> {
    for (const pair of this.entries) if (pair[0].startsWith(prefix)) yield pair;
  }

  /** Called with every change after the initial load; returns an unsubscribe function. */
  onChange(listener: Listener<T>): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Applies a write this process made (ignored if the watcher already delivered a newer one). */
  apply(key: string, value: T, revision: number): void {
    const current = this.entries.get(key);
    if (current && current.revision >= revision) return;
    const next = { value, revision };
    this.entries.set(key, next);
    this.emit(key, next);
  }

  /** Applies a delete this process made, so a late watcher delivery cannot resurrect the key. */
  remove(key: string): void {
    const current = this.entries.get(key);
    if (!current) return;
    this.tombstones.set(key, current.revision);
    this.entries.delete(key);
    this.emit(key, undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.stop();
  }

  /** Starts a watcher; the returned promise resolves when its initial contents are in. */
  private async watch(): Promise<Promise<void>> {
    const resume = this.lastRevision > 0 ? { resumeFromRevision: this.lastRevision + 1 } : {};
    const empty = this.lastRevision === 0 && (await this.kv.status()).values === 0;
    const watcher = await this.kv.watch(resume);
    this.watcher = watcher;
    let markReady!: () => void;
    const ready = new Promise<void>((resolve) => (markReady = resolve));
    if (empty || this.synced) {
      this.synced = true;
      markReady();
    }
    void (async () => {
      for await (const entry of watcher) {
        this.receive(entry);
        if (!this.synced && entry.delta === 0) {
          this.synced = true;
          markReady();
        }
      }
      if (!this.stopped) setTimeout(() => void this.restart(), RESTART_DELAY_MS).unref();
    })();
    return ready;
  }

  private async restart(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.watch();
        return;
      } catch (err) {
        this.onInvalid("(watch)", err);
        await new Promise((r) => setTimeout(r, RESTART_DELAY_MS));
      }
    }
  }

  private receive(entry: KvWatchEntry): void {
    this.lastRevision = Math.max(this.lastRevision, entry.revision);
    const current = this.entries.get(entry.key);
    if (current && current.revision >= entry.revision) return;
    if (entry.operation !== "PUT") {
      this.tombstones.delete(entry.key);
      if (this.entries.delete(entry.key)) this.emit(entry.key, undefined);
      return;
    }
    const deletedAt = this.tombstones.get(entry.key);
    if (deletedAt !== undefined) {
      if (entry.revision <= deletedAt) return;
      this.tombstones.delete(entry.key);
    }
    let value: T;
    try {
      value = this.decode(entry);
    } catch (err) {
      this.onInvalid(entry.key, err);
      return;
    }
    const next = { value, revision: entry.revision };
    this.entries.set(entry.key, next);
    this.emit(entry.key, next);
  }

  private emit(key: string, current: Versioned<T> | undefined): void {
    if (!this.synced) return;
    for (const listener of this.listeners) listener(key, current);
  }
}
