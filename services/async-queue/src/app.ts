import { AsyncQueues, AsyncSubmitter, InvocationStore, RedisClock } from "@nimbus/async";
import { Dispatcher, FunctionCaller, TargetResolver } from "@nimbus/dispatch";
import { createNaming, DEFAULT_MAXIMUM_INSTANCE_COUNT, effectiveFunction, LATEST } from "@nimbus/protocol";
import { Connections, connectNats, connectRedis, drainNats, PresencePublisher, PresenceTracker, traceServices, type App } from "@nimbus/service-kit";
import { openControlPlane, openMirrors } from "@nimbus/store";
import { Counter, createMetricsRegistry, Gauge, type Logger } from "@nimbus/telemetry";
import type { AsyncQueueEnv } from "./env.js";
import { asyncConfigFor, createProcessor } from "./processor.js";
import { WorkerManager } from "./workers.js";

export interface AsyncQueueDeps {
  env: AsyncQueueEnv;
  logger: Logger;
}

/** Builds an async-queue replica. User code never runs here: it invokes through the invokers. */
export async function buildAsyncQueue({ env, logger }: AsyncQueueDeps): Promise<App> {
  const naming = createNaming(env.NIMBUS_PREFIX);
  const node = env.NIMBUS_NODE_ID;
  const metrics = createMetricsRegistry({ service: "async-queue", node });
  const connections = new Connections(metrics);
  const nc = await connectNats({ url: env.NIMBUS_NATS_URL, name: `async-queue/${node}`, logger: logger.child({ module: "nats" }), onConnectedChange: connections.onNats });
  // BullMQ workers block on Redis: their connection must never give up on a command.
  const redis = connectRedis({
    url: env.NIMBUS_REDIS_URL,
    name: `async-queue/${node}`,
    logger: logger.child({ module: "redis" }),
    maxRetriesPerRequest: null,
    onReadyChange: connections.onRedis,
  });
  // Invocation records: many concurrent jobs share it, so one turn's commands go out as one write.
  const recordsRedis = connectRedis({
    url: env.NIMBUS_REDIS_URL,
    name: `async-queue/${node}/records`,
    logger: logger.child({ module: "redis" }),
    maxRetriesPerRequest: null,
    autoPipelining: true,
  });
  const store = await openControlPlane(nc, { naming, replicas: env.NIMBUS_NATS_REPLICAS });
  const onInvalid = (key: string, err: unknown) => logger.warn({ key, err }, "skipping unreadable control-plane record");
  const mirrors = await openMirrors(store, ["services", "functions", "versions", "versionFunctions", "aliases", "asyncConfigs", "onDemandConfigs"], onInvalid);
  traceServices(naming, (key) => mirrors.services.get(key)?.value);
  const asyncConfigs = mirrors.asyncConfigs;

  const presenceTracker = new PresenceTracker(nc, naming);
  const dispatcher = new Dispatcher(nc, naming, presenceTracker, store.payloads, logger.child({ module: "dispatch" }), {
    ackTimeoutMs: 5_000,
    livenessCheckMs: 500,
    direct: { caller: `async-queue/${node}` },
  });
  const caller = new FunctionCaller(new TargetResolver(mirrors, naming), dispatcher, {
    coldStartAllowanceMs: env.NIMBUS_COLD_START_ALLOWANCE_MS,
    maxResponseBytes: env.NIMBUS_MAX_RESPONSE_BYTES,
  });
  const queues = new AsyncQueues(redis, nc, naming);
  const records = new InvocationStore(recordsRedis, naming, env.NIMBUS_ASYNC_RETENTION_MS);
  const clock = new RedisClock(recordsRedis);
  const submitter = new AsyncSubmitter(queues, records, recordsRedis, naming, {
    now: () => clock.now(),
    replicas: { count: env.NIMBUS_REDIS_WAIT_REPLICAS, timeoutMs: env.NIMBUS_REDIS_WAIT_MS },
    maxBacklog: env.NIMBUS_ASYNC_MAX_BACKLOG,
    asyncConfig: (service, qualifier, fn) => asyncConfigFor(asyncConfigs, service, qualifier, fn),
  });
  const processor = createProcessor({
    naming,
    arn: { region: env.NIMBUS_REGION, accountId: env.NIMBUS_ACCOUNT_ID },
    nc,
    caller,
    records,
    queues,
    submitter,
    asyncConfigs,
    now: () => clock.now(),
    logger: logger.child({ module: "processor" }),
    retry: { baseMs: env.NIMBUS_ASYNC_RETRY_BASE_MS, platformBaseMs: env.NIMBUS_ASYNC_PLATFORM_RETRY_BASE_MS, maxMs: env.NIMBUS_ASYNC_RETRY_MAX_MS },
    metrics: {
      final: new Counter({ name: "nimbus_async_final_total", help: "Asynchronous invocations that reached a final state.", labelNames: ["service", "function", "status"], registers: [metrics] }),
      retries: new Counter({ name: "nimbus_async_retries_total", help: "Retries scheduled, by kind (function or platform error).", labelNames: ["service", "function", "kind"], registers: [metrics] }),
      destinations: new Counter({ name: "nimbus_async_destinations_total", help: "Destination records delivered or not.", labelNames: ["service", "function", "outcome"], registers: [metrics] }),
      throttled: new Counter({ name: "nimbus_async_throttled_total", help: "Invocations put back in the queue because the function was at capacity.", labelNames: ["service", "function"], registers: [metrics] }),
      loops: new Counter({ name: "nimbus_async_loops_stopped_total", help: "Chains of invocations stopped at their depth limit (recursive loops).", labelNames: ["service", "function"], registers: [metrics] }),
    },
  });
  // What a function can run at once, cluster-wide: its instances × their concurrency, and its own async cap.
  const capacityOf = (service: string, fn: string): number | undefined => {
    const record = mirrors.functions.get(naming.kvKeys.function(service, fn))?.value;
    const instances = mirrors.onDemandConfigs.get(naming.kvKeys.onDemandConfig(service, LATEST, fn))?.value.maximumInstanceCount ?? DEFAULT_MAXIMUM_INSTANCE_COUNT;
    const runnable = record ? instances * effectiveFunction(record).instanceConcurrency : undefined;
    const cap = asyncConfigs.get(naming.kvKeys.asyncConfig(service, LATEST, fn))?.value.maxAsyncConcurrency;
    const caps = [runnable, cap].filter((n): n is number => n !== undefined);
    return caps.length ? Math.max(1, Math.min(...caps)) : undefined;
  };
  const workers = new WorkerManager(
    redis,
    nc,
    naming,
    queues,
    records,
    capacityOf,
    processor,
    {
      concurrency: env.NIMBUS_ASYNC_CONCURRENCY,
      takeoverMs: env.NIMBUS_ASYNC_LOCK_MS,
      idleMs: env.NIMBUS_ASYNC_IDLE_MS,
      scanMs: env.NIMBUS_ASYNC_SCAN_MS,
      throttleMs: env.NIMBUS_ASYNC_THROTTLE_MS,
      drainLegacy: !redis.isCluster,
    },
    logger.child({ module: "workers" }),
  );
  const onCapacityChange = ({ service, fn }: { service: string; fn: string }) => {
    if (service && fn) workers.capacityChanged(service, fn);
  };
  asyncConfigs.onChange((key) => onCapacityChange(naming.parseKey.asyncConfig(key)));
  mirrors.functions.onChange((key) => onCapacityChange(naming.parseKey.function(key)));
  mirrors.onDemandConfigs.onChange((key) => onCapacityChange(naming.parseKey.onDemandConfig(key)));
  // Queue depth and the age of the oldest waiting invocation, per function this replica serves, read when scraped.
  const depth = new Gauge({ name: "nimbus_async_queue_depth", help: "Invocations waiting (queued or delayed for a retry).", labelNames: ["service", "function"], registers: [metrics] });
  const oldest = new Gauge({ name: "nimbus_async_oldest_age_seconds", help: "Age of the oldest invocation waiting to run.", labelNames: ["service", "function"], registers: [metrics] });
  new Gauge({
    name: "nimbus_async_workers",
    help: "Function queues this replica runs a worker for.",
    registers: [metrics],
    async collect() {
      const active = workers.queuesServed();
      this.set(active.length);
      depth.reset();
      oldest.reset();
      await Promise.all(
        active.map(async ({ service, fn }) => {
          const queue = queues.queue(service, fn);
          const counts = await queue.getJobCounts("wait", "delayed", "prioritized").catch(() => ({}) as Record<string, number>);
          depth.set({ service, function: fn }, Object.values(counts).reduce((n, c) => n + c, 0));
          const [first] = await queue.getJobs(["wait", "prioritized"], 0, 0, true).catch(() => []);
          oldest.set({ service, function: fn }, first ? Math.max(0, (Date.now() - first.data.enqueuedAt) / 1000) : 0);
        }),
      );
    },
  });
  const presence = new PresencePublisher({ natsUrl: env.NIMBUS_NATS_URL, prefix: env.NIMBUS_PREFIX, identity: { service: "async-queue", node }, isReady: () => connections.up, logger });

  let stopped: Promise<void> | undefined;
  return {
    async start() {
      await connections.redisReady();
      await clock.start();
      presenceTracker.start();
      dispatcher.start();
      await workers.start();
      await presence.start();
      return { metrics, ready: () => connections.up };
    },
    stop() {
      stopped ??= (async () => {
        await presence.stop();
        clock.stop();
        await workers.stop(Math.max(500, env.NIMBUS_SHUTDOWN_TIMEOUT_MS - 2_000));
        dispatcher.stop();
        presenceTracker.stop();
        await queues.close();
        await mirrors.stop();
        redis.disconnect();
        recordsRedis.disconnect();
        await drainNats(nc, 1_000);
      })();
      return stopped;
    },
  };
}
