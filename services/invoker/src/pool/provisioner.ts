import {
  effectiveTarget,
  instanceClass,
  LATEST,
  policiesOf,
  trackingInForce,
  type AliasRecord,
  type FunctionRecord,
  type Naming,
  type ProvisionConfigRecord,
  type ServiceRecord,
  type VersionRecord,
} from "@nimbus/protocol";
import type { Mirror } from "@nimbus/store";
import type { Logger } from "@nimbus/telemetry";
import type { Registry } from "../cluster/registry.js";
import type { ClassKey } from "./class-pool.js";
import type { LaunchSpec, Pool } from "./pool.js";
import type { TargetTracking } from "./tracking.js";

export interface ProvisionerMirrors {
  provisionConfigs: Mirror<ProvisionConfigRecord>;
  services: Mirror<ServiceRecord>;
  functions: Mirror<FunctionRecord>;
  versions: Mirror<VersionRecord>;
  versionFunctions: Mirror<FunctionRecord>;
  aliases: Mirror<AliasRecord>;
}

/** What a provision config asks for right now: a class of instances, and how many. */
interface Want {
  config: ProvisionConfigRecord;
  /** The target in force now: the configured one, a scheduled action's, or a tracking policy's. */
  target: number;
  key: ClassKey;
  spec: LaunchSpec;
}

/** At most this many provisioned instances are started by one node in one round. */
const STARTS_PER_ROUND = 4;

/**
 * Keeps each provision config's `target` instances started and warm, cluster-wide. Every invoker
 * runs this loop: a node starts an instance only after Redis (atomically) agrees that fewer than
 * the target exist, and gives one up only when (atomically) more than the target exist. So nodes
 * share the work without coordination, a node that dies has its instances replaced by the others
 * once its heartbeat expires, a restarted node starts over, and an alias that moves to another
 * version gets instances of the new version while the old ones are released.
 */
export class Provisioner {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly pool: Pool,
    private readonly registry: Registry,
    private readonly mirrors: ProvisionerMirrors,
    private readonly naming: Naming,
    private readonly intervalMs: number,
    private readonly logger: Logger,
    private readonly tracking: TargetTracking,
  ) {}

  start(): void {
    const tick = () => {
      if (this.stopped || this.busy) return;
      this.busy = true;
      clearTimeout(this.timer);
      this.running = this.round()
        .catch((err: unknown) => this.logger.warn({ err }, "provisioning round failed; will retry"))
        .finally(() => {
          this.busy = false;
          // Jitter keeps nodes from racing for the same slots in lockstep.
          if (!this.stopped) this.timer = setTimeout(tick, this.intervalMs * (0.75 + Math.random() / 2));
        });
    };
    this.timer = setTimeout(tick, 0);
    // A changed config is acted on at once (unless a round is under way: the next one sees it).
    this.unwatch = this.mirrors.provisionConfigs.onChange(() => tick());
  }

  private busy = false;
  private unwatch: (() => void) | undefined;

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.unwatch?.();
    await this.running;
  }

  /** One pass over every provision config. */
  async round(): Promise<void> {
    const wants = new Map<string, Want>();
    const tracked: ProvisionConfigRecord[] = [];
    for (const { value } of this.mirrors.provisionConfigs.values()) {
      const target = await this.targetOf(value, tracked);
      if (target <= 0) continue;
      const want = this.resolve(value, target);
      if (want) wants.set(`${value.serviceName}.${value.qualifier}.${value.functionName}`, want);
    }
    this.tracking.keepOnly(tracked);

    // Release what no config wants any more (target 0, config deleted, alias or function moved on),
    // and what exceeds a target cluster-wide.
    for (const { key, instance } of this.pool.provisionedInstances()) {
      const want = wants.get(`${key.service}.${instance.provisioned}.${key.fn}`);
      if (!want || want.key.cls !== key.cls) {
        this.logger.info({ service: key.service, function: key.fn, qualifier: instance.provisioned, instanceId: instance.id }, "releasing a provisioned instance no longer wanted");
        instance.provisioned = undefined;
        instance.retire();
        continue;
      }
      if (await this.registry.releaseSurplus(key.service, key.fn, instance.id, want.config.qualifier, key.cls, want.target)) {
        this.logger.info({ service: key.service, function: key.fn, qualifier: want.config.qualifier, instanceId: instance.id }, "releasing a provisioned instance beyond the target");
        instance.provisioned = undefined;
        instance.retire();
      }
    }

    // Start what is missing, a few at a time; other nodes do the same, and Redis keeps the count.
    let started = 0;
    for (const want of wants.values()) {
      while (started < STARTS_PER_ROUND && !this.stopped) {
        const result = await this.pool.provision(want.key, want.spec, want.target);
        if (result !== "started") {
          if (result === "failed") this.logger.warn({ service: want.key.service, function: want.key.fn, qualifier: want.config.qualifier }, "a provisioned instance failed to start");
          break;
        }
        started++;
      }
    }
  }

  /**
   * The target a config asks for now: its scheduled actions and target tracking policy applied
   * (see provision-policy.ts). While a policy is in force this node reports how busy its instances
   * of the config are, for the node that decides.
   */
  private async targetOf(config: ProvisionConfigRecord, tracked: ProvisionConfigRecord[]): Promise<number> {
    const { actions, policies } = policiesOf(config);
    if (!actions.length && !policies.length) return config.target;
    const now = Date.now();
    const policy = trackingInForce(policies, now);
    let decided: number | undefined;
    if (policy) {
      tracked.push(config);
      let busy = 0;
      let slots = 0;
      let instances = 0;
      for (const { key, instance } of this.pool.provisionedInstances()) {
        if (key.service !== config.serviceName || key.fn !== config.functionName || instance.provisioned !== config.qualifier || instance.state !== "ready") continue;
        busy += instance.active;
        slots += instance.options.capacity;
        instances++;
      }
      try {
        await this.tracking.report(config, busy, slots, instances);
        decided = await this.tracking.target(config, policy);
      } catch (err) {
        // Redis away: the policy's floor holds until it is back (never beyond its bounds).
        this.logger.warn({ err, service: config.serviceName, function: config.functionName }, "target tracking could not reach Redis");
      }
    }
    return effectiveTarget(config.target, actions, policies, now, decided);
  }

  /** The class a config provisions: LATEST's, or the version its alias points to. */
  private resolve(config: ProvisionConfigRecord, target: number): Want | undefined {
    const { serviceName: service, functionName: fn, qualifier } = config;
    let versionId = LATEST;
    let record: FunctionRecord | undefined;
    let serviceRecord: ServiceRecord | undefined;
    if (qualifier === LATEST) {
      record = this.mirrors.functions.get(this.naming.kvKeys.function(service, fn))?.value;
      serviceRecord = this.mirrors.services.get(this.naming.kvKeys.service(service))?.value;
    } else {
      const alias = this.mirrors.aliases.get(this.naming.kvKeys.alias(service, qualifier))?.value;
      if (!alias) return undefined;
      versionId = alias.versionId;
      record = this.mirrors.versionFunctions.get(this.naming.kvKeys.versionFunction(service, versionId, fn))?.value;
      serviceRecord = this.mirrors.versions.get(this.naming.kvKeys.version(service, versionId))?.value.service;
    }
    if (!record || !serviceRecord) return undefined;
    return {
      config,
      target,
      key: { service, fn, cls: instanceClass(record, versionId), versionId },
      spec: { record, service: serviceRecord, qualifier },
    };
  }
}
