import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Redis } from "ioredis";
import type { Naming } from "@nimbus/protocol";
import type { Logger } from "@nimbus/telemetry";

/** What the registry says about a live instance (what listInstances shows). */
export interface InstanceEntry {
  instanceId: string;
  node: string;
  cls: string;
  versionId: string;
  qualifier: string;
  startedAt: string;
  /** A provisioned instance: the qualifier whose provision config keeps it. */
  provisioned?: string;
  /** "starting" until a provisioned instance is up (and initialized). */
  state?: "starting" | "ready";
}

const lua = (name: string) => readFileSync(fileURLToPath(new URL(`./lua/${name}`, import.meta.url)), "utf8");

type RedisWithScripts = Redis & {
  reserveInstance(key: string, id: string, json: string, max: number, nodePrefix: string): Promise<number>;
  reserveProvisioned(key: string, id: string, json: string, max: number, nodePrefix: string, qualifier: string, cls: string, target: number): Promise<number>;
  releaseProvisioned(key: string, id: string, nodePrefix: string, qualifier: string, cls: string, target: number): Promise<number>;
  updateInstance(key: string, id: string, json: string): Promise<number>;
};

/**
 * This node's entries in Redis: its heartbeat (with a TTL, so a dead node disappears), the
 * instances it runs (counted atomically against each function's cluster-wide limit), and which
 * instance classes it has free slots in (so a busy node can send a request to an idle one instead
 * of cold-starting).
 */
export class Registry {
  private readonly redis: RedisWithScripts;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly idleWanted = new Map<string, boolean>();
  private readonly idleWritten = new Map<string, boolean>();
  private flushTimer: NodeJS.Timeout | undefined;
  private readonly mine = new Map<string, { service: string; fn: string }>();

  constructor(
    redis: Redis,
    private readonly naming: Naming,
    private readonly node: string,
    private readonly ttlMs: number,
    private readonly logger: Logger,
  ) {
    redis.defineCommand("reserveInstance", { numberOfKeys: 1, lua: lua("reserve-instance-1.lua") });
    redis.defineCommand("reserveProvisioned", { numberOfKeys: 1, lua: lua("reserve-provisioned-1.lua") });
    redis.defineCommand("releaseProvisioned", { numberOfKeys: 1, lua: lua("release-provisioned-1.lua") });
    redis.defineCommand("updateInstance", { numberOfKeys: 1, lua: lua("update-instance-1.lua") });
    this.redis = redis as RedisWithScripts;
  }

  async start(): Promise<void> {
    await this.beat();
    this.heartbeat = setInterval(() => void this.beat(), Math.max(200, Math.floor(this.ttlMs / 3)));
    this.heartbeat.unref();
  }

  private async beat(): Promise<void> {
    try {
      await this.redis.set(this.naming.redis.node(this.node), JSON.stringify({ at: Date.now(), pid: process.pid }), "PX", this.ttlMs);
    } catch (err) {
      this.logger.warn({ err }, "cannot refresh the node heartbeat in Redis");
    }
  }

  /** Takes a cluster-wide slot for a new instance; false when the function is at `max`. */
  async reserve(service: string, fn: string, entry: Omit<InstanceEntry, "node">, max: number): Promise<boolean> {
    const full: InstanceEntry = { ...entry, node: this.node };
    const ok = await this.redis.reserveInstance(this.naming.redis.instances(service, fn), entry.instanceId, JSON.stringify(full), max, this.naming.redis.nodePrefix);
    if (ok === 1) this.mine.set(entry.instanceId, { service, fn });
    return ok === 1;
  }

  /**
   * Takes a cluster-wide slot for a new provisioned instance: within `max`, and only while fewer
   * than `target` are provisioned for the qualifier's class. "limit" or "met" when not.
   */
  async reserveProvisioned(service: string, fn: string, entry: Omit<InstanceEntry, "node">, max: number, target: number): Promise<"reserved" | "limit" | "met"> {
    const full: InstanceEntry = { ...entry, node: this.node, state: "starting" };
    const result = await this.redis.reserveProvisioned(
      this.naming.redis.instances(service, fn),
      entry.instanceId,
      JSON.stringify(full),
      max,
      this.naming.redis.nodePrefix,
      entry.provisioned ?? "",
      entry.cls,
      target,
    );
    if (result === 1) this.mine.set(entry.instanceId, { service, fn });
    return result === 1 ? "reserved" : result === 0 ? "limit" : "met";
  }

  /** Marks a provisioned instance as up (unless it was released meanwhile). */
  async markReady(service: string, fn: string, entry: Omit<InstanceEntry, "node">): Promise<void> {
    const full: InstanceEntry = { ...entry, node: this.node, state: "ready" };
    await this.redis.updateInstance(this.naming.redis.instances(service, fn), entry.instanceId, JSON.stringify(full)).catch(() => undefined);
  }

  /** Gives up this provisioned instance if more than `target` are provisioned cluster-wide; true when it should stop. */
  async releaseSurplus(service: string, fn: string, instanceId: string, qualifier: string, cls: string, target: number): Promise<boolean> {
    const released = await this.redis.releaseProvisioned(this.naming.redis.instances(service, fn), instanceId, this.naming.redis.nodePrefix, qualifier, cls, target);
    if (released === 1) this.mine.delete(instanceId);
    return released === 1;
  }

  /** Gives back an instance's slot (it stopped). */
  async release(service: string, fn: string, instanceId: string): Promise<void> {
    this.mine.delete(instanceId);
    await this.redis.hdel(this.naming.redis.instances(service, fn), instanceId).catch(() => undefined);
  }

  /** Records whether this node has a free slot in a class; writes are coalesced (at most every 50 ms). */
  setIdle(cls: string, idle: boolean): void {
    this.idleWanted.set(cls, idle);
    this.flushTimer ??= setTimeout(() => void this.flushIdle(), 50);
  }

  private async flushIdle(): Promise<void> {
    this.flushTimer = undefined;
    const pipeline = this.redis.pipeline();
    let writes = 0;
    for (const [cls, idle] of this.idleWanted) {
      if (this.idleWritten.get(cls) === idle) continue;
      this.idleWritten.set(cls, idle);
      if (idle) pipeline.sadd(this.naming.redis.idle(cls), this.node);
      else pipeline.srem(this.naming.redis.idle(cls), this.node);
      writes++;
    }
    this.idleWanted.clear();
    if (writes) await pipeline.exec().catch(() => undefined);
  }

  /** Another live node with a free slot in this class, if any. */
  async idleNode(cls: string): Promise<string | undefined> {
    const nodes = (await this.redis.srandmember(this.naming.redis.idle(cls), 3).catch(() => [])) as string[];
    for (const node of nodes) {
      if (node === this.node) continue;
      if ((await this.redis.exists(this.naming.redis.node(node))) === 1) return node;
      await this.redis.srem(this.naming.redis.idle(cls), node).catch(() => undefined);
    }
    return undefined;
  }

  /** Removes everything this node registered (graceful stop). */
  async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    clearTimeout(this.flushTimer);
    const pipeline = this.redis.pipeline();
    for (const [id, { service, fn }] of this.mine) pipeline.hdel(this.naming.redis.instances(service, fn), id);
    for (const [cls, idle] of this.idleWritten) if (idle) pipeline.srem(this.naming.redis.idle(cls), this.node);
    pipeline.del(this.naming.redis.node(this.node));
    await pipeline.exec().catch(() => undefined);
  }
}
