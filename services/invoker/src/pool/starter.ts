import { LATEST, type EffectiveFunction, type ServiceRecord } from "@nimbus/protocol";
import type { Sandboxer } from "@nimbus/sandbox";
import type { Logger } from "@nimbus/telemetry";
import { Instance, InstanceStartError } from "../instances/instance.js";
import { InstanceOutput, type LogSink } from "../instances/log.js";
import { failures } from "../instances/messages.js";
import type { ClassKey } from "./class-pool.js";
import { launchPlan } from "./instance-spec.js";
import { PrestartPool, type PrestartedSandbox } from "./prestart.js";
import type { InstanceSource } from "./sources.js";

export interface StarterOptions {
  region: string;
  accountId: string;
  maxOutputBytesPerInvocation: number;
  runtimeDir: string;
  pidsMax: number;
  startTimeoutMs: number;
}

/**
 * Turns a function and what it runs from into a started instance: in a new sandbox, or in a
 * pre-started one — its code linked in, its memory limit and environment set — where only the
 * function's load is left to do. Instances being started are tracked, so a drain stops them too.
 */
export class InstanceStarter {
  /** Instances being started: not in any class pool yet, but stopped with the node all the same. */
  readonly starting = new Set<Instance>();

  constructor(
    private readonly options: StarterOptions,
    private readonly deps: { sandboxer: Sandboxer; logSink: LogSink; logger: Logger },
  ) {}

  async start(id: string, key: ClassKey, fn: EffectiveFunction, service: ServiceRecord, source: InstanceSource, sandbox: PrestartedSandbox | undefined): Promise<Instance> {
    const plan = launchPlan(fn, service, key.versionId, source, this.options, id);
    let process;
    if (sandbox && source.kind === "code") {
      process = sandbox.process;
      try {
        await PrestartPool.bind(sandbox, source.codeDir, source.optDir);
        await process.setMemoryLimit(fn.memoryMb * 1024 * 1024);
        plan.info.processEnv = plan.env(this.deps.sandboxer.paths);
      } catch (err) {
        await process.kill();
        throw err;
      }
    } else {
      process = await this.deps.sandboxer.spawn({
        id,
        root: plan.root,
        runtimeDir: this.options.runtimeDir,
        command: plan.command,
        env: plan.env,
        memoryBytes: fn.memoryMb * 1024 * 1024,
        pidsMax: this.options.pidsMax,
        network: service.internetAccess !== false,
        heapLimitMb: Math.max(64, Math.floor(fn.memoryMb * 0.85)),
      });
    }
    const instance = new Instance({
      id,
      fn: plan.info,
      capacity: fn.instanceConcurrency,
      timeoutMs: fn.timeoutMs,
      initializationTimeoutMs: fn.initializationTimeoutMs,
      hasInitializer: fn.hasInitializer,
      memoryLimitMb: fn.memoryMb,
      startTimeoutMs: this.options.startTimeoutMs,
      loadTimeoutMs: fn.loadTimeoutMs,
      ...(plan.info.preStop && fn.preStop ? { preStopTimeoutMs: fn.preStop.timeoutMs } : {}),
      logSink: this.deps.logSink,
      logger: this.deps.logger,
    });
    this.starting.add(instance);
    try {
      await instance.start(process, sandbox !== undefined);
    } finally {
      this.starting.delete(instance);
    }
    return instance;
  }

  /** A start that failed before any sandbox existed (the image cannot run): the reason goes to the function's log. */
  failedBeforeSandbox(instanceId: string, key: ClassKey, fn: EffectiveFunction, reason: string): InstanceStartError {
    const error = failures.startFailed(reason);
    const source = { instanceId, service: key.service, fn: key.fn, versionId: key.versionId === LATEST ? "" : key.versionId };
    const printed = new InstanceOutput(this.deps.logSink, source).startFailed(error.errorMessage);
    this.deps.logger.info({ instanceId, function: fn.record.functionName, reason }, "instance failed to start");
    return new InstanceStartError(error, printed);
  }
}
