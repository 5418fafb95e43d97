import { AsyncQueues, InvocationStore } from "@nimbus/async";
import { Dispatcher, TargetResolver } from "@nimbus/dispatch";
import { createNaming } from "@nimbus/protocol";
import { connectNats, connectRedis, drainNats, PresencePublisher, PresenceTracker, type App } from "@nimbus/service-kit";
import { openControlPlane, openMirrors } from "@nimbus/store";
import type { Logger } from "@nimbus/telemetry";
import type { AsyncQueueEnv } from "./env.js";
import { createProcessor } from "./processor.js";
import { WorkerManager } from "./workers.js";

export interface AsyncQueueDeps {
  env: AsyncQueueEnv;
  logger: Logger;
}

/** Builds an async-queue replica. User code never runs here: it invokes through the invokers. */
export async function buildAsyncQueue({ env, logger }: AsyncQueueDeps): Promise<App> {
  const naming = createNaming(env.NIMBUS_PREFIX);
  const node = env.NIMBUS_NODE_ID;
  let natsConnected = false;
  let redisReady = false;
  const nc = await connectNats({
    url: env.NIMBUS_NATS_URL,
    name: `async-queue/${node}`,
    logger: logger.child({ module: "nats" }),
    onConnectedChange: (c) => (natsConnected = c),
  });
  // BullMQ workers block on Redis: their connection must never give up on a command.
  const redis = connectRedis({
    url: env.NIMBUS_REDIS_URL,
    name: `async-queue/${node}`,
    logger: logger.child({ module: "redis" }),
    maxRetriesPerRequest: null,
    onReadyChange: (r) => (redisReady = r),
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
  const mirrors = await openMirrors(store, ["services", "functions", "versions", "versionFunctions", "aliases", "asyncConfigs"], onInvalid);
  const asyncConfigs = mirrors.asyncConfigs;

  const presenceTracker = new PresenceTracker(nc, naming);
  const dispatcher = new Dispatcher(nc, naming, presenceTracker, store.payloads, logger.child({ module: "dispatch" }), { ackTimeoutMs: 5_000, livenessCheckMs: 500 });
  const resolver = new TargetResolver(mirrors, naming);
  const queues = new AsyncQueues(redis, nc, naming);
  const records = new InvocationStore(recordsRedis, naming, env.NIMBUS_ASYNC_RETENTION_MS);
  const processor = createProcessor({
    naming,
    arn: { region: env.NIMBUS_REGION, accountId: env.NIMBUS_ACCOUNT_ID },
    nc,
    resolver,
    dispatcher,
    records,
    queues,
    asyncConfigs,
    logger: logger.child({ module: "processor" }),
    retry: { baseMs: env.NIMBUS_ASYNC_RETRY_BASE_MS, platformBaseMs: env.NIMBUS_ASYNC_PLATFORM_RETRY_BASE_MS, maxMs: env.NIMBUS_ASYNC_RETRY_MAX_MS },
    coldStartAllowanceMs: env.NIMBUS_COLD_START_ALLOWANCE_MS,
    maxResponseBytes: env.NIMBUS_MAX_RESPONSE_BYTES,
  });
  const workers = new WorkerManager(
    redis,
    nc,
    naming,
    queues,
    records,
    asyncConfigs,
    processor,
    { concurrency: env.NIMBUS_ASYNC_CONCURRENCY, lockMs: env.NIMBUS_ASYNC_LOCK_MS, idleMs: env.NIMBUS_ASYNC_IDLE_MS, scanMs: env.NIMBUS_ASYNC_SCAN_MS },
    logger.child({ module: "workers" }),
  );
  const presence = new PresencePublisher(nc, naming, { service: "async-queue", node }, () => natsConnected && redisReady);

  let stopped: Promise<void> | undefined;
  return {
    async start() {
      for (let waited = 0; !redisReady && waited < 5_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
      presenceTracker.start();
      dispatcher.start();
      await workers.start();
      presence.start();
      return {};
    },
    stop() {
      stopped ??= (async () => {
        presence.stop();
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
