import type { RedisClient } from "@nimbus/service-kit";
import { trackedTarget, type Naming, type ProvisionConfigRecord, type TargetTrackingPolicy } from "@nimbus/protocol";
import type { Logger } from "@nimbus/telemetry";

/** One node's recent use of a config's provisioned instances: busy slots and all slots (smoothed), and how many instances. */
interface Usage {
  busy: number;
  slots: number;
  instances: number;
  at: number;
}

/** A node's report older than this many decision periods does not count. */
const STALE_PERIODS = 3;

/**
 * Target tracking for provision configs, shared by every invoker node through Redis: each node
 * reports, every round, how busy the provisioned instances it runs for a config are (smoothed
 * over the last rounds); once per `periodMs`, the one node holding the config's lease sums the
 * fresh reports into FC's ProvisionedConcurrencyUtilization and decides the policy's target, which
 * every node reads. A node that dies stops reporting (its report goes stale); the lease moves on.
 */
export class TargetTracking {
  private readonly smoothed = new Map<string, { busy: number; slots: number }>();

  constructor(
    private readonly redis: RedisClient,
    private readonly naming: Naming,
    private readonly node: string,
    private readonly periodMs: number,
    private readonly logger: Logger,
  ) {}

  /** This node's use of a config's instances now (busy and total slots over its provisioned instances). */
  async report(config: ProvisionConfigRecord, busy: number, slots: number, instances: number): Promise<void> {
    const id = keyOf(config);
    const last = this.smoothed.get(id);
    // An exponential average over rounds: a point sample of in-flight calls is noisy.
    const next = last ? { busy: (last.busy + busy) / 2, slots: (last.slots + slots) / 2 } : { busy, slots };
    this.smoothed.set(id, next);
    const usage: Usage = { ...next, instances, at: Date.now() };
    const key = this.naming.redis.provisionUsage(config.serviceName, config.qualifier, config.functionName);
    await this.redis.multi().hset(key, this.node, JSON.stringify(usage)).pexpire(key, this.periodMs * STALE_PERIODS * 4).exec();
  }

  /** The policy's target now: decided by this node when it holds the lease, else as another node decided it. */
  async target(config: ProvisionConfigRecord, policy: TargetTrackingPolicy): Promise<number> {
    const { serviceName: s, qualifier: q, functionName: f } = config;
    const trackedKey = this.naming.redis.provisionTracked(s, q, f);
    const previous = parseTracked(await this.redis.get(trackedKey), policy.name);
    const leased = (await this.redis.set(this.naming.redis.provisionLease(s, q, f), this.node, "PX", this.periodMs, "NX")) === "OK";
    if (!leased) return trackedTarget(policy, undefined, previous);
    const observed = this.observe(await this.redis.hgetall(this.naming.redis.provisionUsage(s, q, f)));
    const decided = trackedTarget(policy, observed, previous);
    if (decided !== previous) {
      this.logger.info({ service: s, function: f, qualifier: q, policy: policy.name, utilization: observed?.utilization, instances: observed?.instances, from: previous, to: decided }, "target tracking moved the provisioned target");
    }
    await this.redis.set(trackedKey, JSON.stringify({ policy: policy.name, target: decided, utilization: observed?.utilization ?? null, at: Date.now() }), "PX", this.periodMs * 100);
    return decided;
  }

  /** Forgets what this node smoothed for configs that no longer track. */
  keepOnly(configs: readonly ProvisionConfigRecord[]): void {
    const wanted = new Set(configs.map(keyOf));
    for (const id of this.smoothed.keys()) if (!wanted.has(id)) this.smoothed.delete(id);
  }

  private observe(reports: Record<string, string>): { utilization: number; instances: number } | undefined {
    let busy = 0;
    let slots = 0;
    let instances = 0;
    const fresh = Date.now() - this.periodMs * STALE_PERIODS;
    for (const json of Object.values(reports)) {
      try {
        const u = JSON.parse(json) as Usage;
        if (u.at < fresh) continue;
        busy += u.busy;
        slots += u.slots;
        instances += u.instances;
      } catch {
        // a report this version cannot read: skipped
      }
    }
    return slots > 0 ? { utilization: Math.min(1, busy / slots), instances } : undefined;
  }
}

function keyOf(config: ProvisionConfigRecord): string {
  return `${config.serviceName}.${config.qualifier}.${config.functionName}`;
}

/** The last decision, when it was this policy's (a new policy starts from its own minimum). */
function parseTracked(json: string | null, policy: string): number | undefined {
  if (!json) return undefined;
  try {
    const t = JSON.parse(json) as { policy?: string; target?: number };
    return t.policy === policy && typeof t.target === "number" ? t.target : undefined;
  } catch {
    return undefined;
  }
}
