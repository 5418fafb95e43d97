import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { liveNodes, removeNode, renewNode, type LiveNodes, type RedisClient } from "@nimbus/service-kit";
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
/** Scripts that count a function's live instances start with the same liveness check. */
const counting = (name: string) => `${lua("live.lua")}\n${lua(name)}`;

/** The live-node list a reservation that found its function full reads again first, if older than this. */
const FRESH_MS = 250;

type RedisWithScripts = RedisClient & {
  reserveInstance(key: string, live: string, listedAt: number, id: string, json: string, max: number): Promise<number>;
  reserveProvisioned(key: string, live: string, listedAt: number, id: string, json: string, max: number, qualifier: string, cls: string, target: number): Promise<number>;
  releaseProvisioned(key: string, live: string, listedAt: number, id: string, qualifier: string, cls: string, target: number): Promise<number>;
  updateInstance(key: string, id: string, json: string): Promise<number>;
};

/**
 * This node's entries in Redis: its heartbeat (in the nodes' sorted set, so a dead node drops
 * out), the instances it runs (counted atomically against each function's cluster-wide limit, in
 * the function's own key), and which instance classes it has free slots in (so a busy node can
 * send a request to an idle one instead of cold-starting). Every key a script touches is in one
 * function's Redis Cluster slot: which nodes are alive is read from the heartbeats and handed in.
 */
export class Registry {
  private readonly redis: RedisWithScripts;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly idleWanted = new Map<string, boolean>();
  private readonly idleWritten = new Map<string, boolean>();
  private flushTimer: NodeJS.Timeout | undefined;
  private readonly mine = new Map<string, { service: string; fn: string }>();
  /** The nodes alive when last read, and the gap between Redis's clock and this process's. */
  private nodes: LiveNodes = { at: 0, live: new Set(), dead: new Set() };
  private readAt = 0;
  private offsetMs = 0;

  constructor(
    redis: RedisClient,
    private readonly naming: Naming,
    private readonly node: string,
    private readonly ttlMs: number,
    private readonly logger: Logger,
  ) {
    redis.defineCommand("reserveInstance", { numberOfKeys: 1, lua: counting("reserve-instance-1.lua") });
    redis.defineCommand("reserveProvisioned", { numberOfKeys: 1, lua: counting("reserve-provisioned-1.lua") });
    redis.defineCommand("releaseProvisioned", { numberOfKeys: 1, lua: counting("release-provisioned-1.lua") });
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
      this.learn(await renewNode(this.redis, this.naming.redis.nodes, this.node, this.ttlMs));
    } catch (err) {
      this.logger.warn({ err }, "cannot refresh the node heartbeat in Redis");
    }
  }

  private learn(nodes: LiveNodes): void {
    this.nodes = nodes;
    this.readAt = Date.now();
    this.offsetMs = nodes.at - this.readAt;
  }

  /** The live nodes as a script takes them (this node is always one of them). */
  private liveArgs(): [string, number] {
    return [[...this.nodes.live, this.node].join(","), this.nodes.at];
  }

  /** A new entry: this node's, stamped with when it was reserved on Redis's clock. */
  private stamp(entry: Omit<InstanceEntry, "node">, extra: Partial<InstanceEntry> = {}): string {
    return JSON.stringify({ ...entry, ...extra, node: this.node, at: Date.now() + this.offsetMs });
  }

  /**
   * Runs a reservation; when it finds the function full on a live-node list older than FRESH_MS,
   * reads the list again and retries once (a node that just died frees its places at once).
   */
  private async reserving(attempt: () => Promise<number>): Promise<number> {
    const result = await attempt();
    if (result !== 0 || Date.now() - this.readAt < FRESH_MS) return result;
    this.learn(await liveNodes(this.redis, this.naming.redis.nodes));
    return attempt();
  }

  /** Takes a cluster-wide slot for a new instance; false when the function is at `max`. */
  async reserve(service: string, fn: string, entry: Omit<InstanceEntry, "node">, max: number): Promise<boolean> {
    const key = this.naming.redis.instances(service, fn);
    const json = this.stamp(entry);
    const ok = await this.reserving(() => this.redis.reserveInstance(key, ...this.liveArgs(), entry.instanceId, json, max));
    if (ok === 1) this.mine.set(entry.instanceId, { service, fn });
    return ok === 1;
  }

  /**
   * Takes a cluster-wide slot for a new provisioned instance: within `max`, and only while fewer
   * than `target` are provisioned for the qualifier's class. "limit" or "met" when not.
   */
  async reserveProvisioned(service: string, fn: string, entry: Omit<InstanceEntry, "node">, max: number, target: number): Promise<"reserved" | "limit" | "met"> {
    const key = this.naming.redis.instances(service, fn);
    const json = this.stamp(entry, { state: "starting" });
    const result = await this.reserving(() => this.redis.reserveProvisioned(key, ...this.liveArgs(), entry.instanceId, json, max, entry.provisioned ?? "", entry.cls, target));
    if (result === 1) this.mine.set(entry.instanceId, { service, fn });
    return result === 1 ? "reserved" : result === 0 ? "limit" : "met";
  }

  /** Marks a provisioned instance as up (unless it was released meanwhile). */
  async markReady(service: string, fn: string, entry: Omit<InstanceEntry, "node">): Promise<void> {
    await this.redis.updateInstance(this.naming.redis.instances(service, fn), entry.instanceId, this.stamp(entry, { state: "ready" })).catch(() => undefined);
  }

  /** Gives up this provisioned instance if more than `target` are provisioned cluster-wide; true when it should stop. */
  async releaseSurplus(service: string, fn: string, instanceId: string, qualifier: string, cls: string, target: number): Promise<boolean> {
    const released = await this.redis.releaseProvisioned(this.naming.redis.instances(service, fn), ...this.liveArgs(), instanceId, qualifier, cls, target);
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
    // One command per class (their sets may be on different Redis Cluster nodes), sent together.
    const writes: Promise<number>[] = [];
    for (const [cls, idle] of this.idleWanted) {
      if (this.idleWritten.get(cls) === idle) continue;
      this.idleWritten.set(cls, idle);
      writes.push(idle ? this.redis.sadd(this.naming.redis.idle(cls), this.node) : this.redis.srem(this.naming.redis.idle(cls), this.node));
    }
    this.idleWanted.clear();
    await Promise.all(writes).catch(() => undefined);
  }

  /** Another live node with a free slot in this class, if any. */
  async idleNode(cls: string): Promise<string | undefined> {
    const nodes = (await this.redis.srandmember(this.naming.redis.idle(cls), 3).catch(() => [])) as string[];
    for (const node of nodes) {
      if (node === this.node) continue;
      if (this.nodes.live.has(node)) return node;
      if (this.nodes.dead.has(node)) await this.redis.srem(this.naming.redis.idle(cls), node).catch(() => undefined);
    }
    return undefined;
  }

  /** Removes everything this node registered (graceful stop). */
  async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    clearTimeout(this.flushTimer);
    await Promise.allSettled([
      ...[...this.mine].map(([id, { service, fn }]) => this.redis.hdel(this.naming.redis.instances(service, fn), id)),
      ...[...this.idleWritten].filter(([, idle]) => idle).map(([cls]) => this.redis.srem(this.naming.redis.idle(cls), this.node)),
    ]);
    await removeNode(this.redis, this.naming.redis.nodes, this.node).catch(() => undefined);
  }
}
