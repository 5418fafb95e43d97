import {
  instanceClass,
  LATEST,
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
    for (const { value } of this.mirrors.provisionConfigs.values()) {
      if (value.target <= 0) continue;
      const want = this.resolve(value);
      if (want) wants.set(`${value.serviceName}.${value.qualifier}.${value.functionName}`, want);
    }

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
      if (await this.registry.releaseSurplus(key.service, key.fn, instance.id, want.config.qualifier, key.cls, want.config.target)) {
        this.logger.info({ service: key.service, function: key.fn, qualifier: want.config.qualifier, instanceId: instance.id }, "releasing a provisioned instance beyond the target");
        instance.provisioned = undefined;
        instance.retire();
      }
    }

    // Start what is missing, a few at a time; other nodes do the same, and Redis keeps the count.
    let started = 0;
    for (const want of wants.values()) {
      while (started < STARTS_PER_ROUND && !this.stopped) {
        const result = await this.pool.provision(want.key, want.spec, want.config.target);
        if (result !== "started") {
          if (result === "failed") this.logger.warn({ service: want.key.service, function: want.key.fn, qualifier: want.config.qualifier }, "a provisioned instance failed to start");
          break;
        }
        started++;
      }
    }
  }

  /** The class a config provisions: LATEST's, or the version its alias points to. */
  private resolve(config: ProvisionConfigRecord): Want | undefined {
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
      key: { service, fn, cls: instanceClass(record, versionId), versionId },
      spec: { record, service: serviceRecord, qualifier },
    };
  }
}
