import { createNaming, effectiveAsyncConfig } from "@nimbus/protocol";
import {
  Connections,
  connectNats,
  connectRedis,
  drainNats,
  PresencePublisher,
  PresenceTracker,
  traceServices,
  type App,
} from "@nimbus/service-kit";
import { openControlPlane, openMirrors } from "@nimbus/store";
import { createMetricsRegistry, type Logger } from "@nimbus/telemetry";
import { CodeCollector } from "./code/gc.js";
import { codeRoutes } from "./code/routes.js";
import type { GatewayContext } from "./context.js";
import type { GatewayEnv } from "./env.js";
import { FunctionCatalog } from "./functions/catalog.js";
import { ImageAcceleration } from "./images/acceleration.js";
import { RegistryPinning } from "./images/pinning.js";
import { accountRoutes } from "./account/routes.js";
import { functionRoutes } from "./functions/routes.js";
import { interpretersFor } from "./functions/interpreters.js";
import { healthRoutes } from "./health/routes.js";
import { consoleRoutes } from "./console/routes.js";
import { createAuthenticator } from "./http/auth.js";
import { instrumentHttp } from "./http/metrics.js";
import { createHttpServer } from "./http/server.js";
import { ServiceCatalog } from "./services/catalog.js";
import { serviceRoutes } from "./services/routes.js";
import { AliasCatalog } from "./aliases/catalog.js";
import { CustomDomainCatalog } from "./domains/catalog.js";
import { customDomainRoutes } from "./domains/routes.js";
import { LayerCatalog } from "./layers/catalog.js";
import { layerRoutes } from "./layers/routes.js";
import { VersionCatalog } from "./versions/catalog.js";
import { versionRoutes } from "./versions/routes.js";
import { tagRoutes } from "./tags/routes.js";
import { AsyncQueues, AsyncSubmitter, InvocationStore, RedisClock } from "@nimbus/async";
import { Dispatcher, FunctionCaller, TargetResolver } from "@nimbus/dispatch";
import { asyncConfigRoutes } from "./async/config-routes.js";
import { invocationRoutes as statefulInvocationRoutes } from "./async/invocation-routes.js";
import { invocationRoutes } from "./invoke/routes.js";
import { GATEWAY_MIRRORS } from "./context.js";
import { proxyRoutes } from "./invoke/proxy.js";
import { TriggerCatalog } from "./triggers/catalog.js";
import { capacityRoutes } from "./capacity/routes.js";
import { provisionRoutes } from "./capacity/provision-routes.js";
import { logRoutes } from "./logs/routes.js";
import { triggerRoutes } from "./triggers/routes.js";

export interface GatewayDeps {
  env: GatewayEnv;
  logger: Logger;
}

/** Room for base64's 4/3 growth plus the rest of the JSON body around `code.zipFile`. */
function codeBodyLimit(maxZipBytes: number): number {
  return Math.ceil(maxZipBytes / 3) * 4 + 1024 * 1024;
}

/** Builds the gateway: connects, loads the control plane, wires the routes. */
export async function buildGateway({ env, logger }: GatewayDeps): Promise<App> {
  const naming = createNaming(env.NIMBUS_PREFIX);
  const registry = createMetricsRegistry({ service: "gateway", node: env.NIMBUS_NODE_ID });
  const connections = new Connections(registry);
  const nc = await connectNats({ url: env.NIMBUS_NATS_URL, name: `gateway/${env.NIMBUS_NODE_ID}`, logger: logger.child({ module: "nats" }), onConnectedChange: connections.onNats });
  // Shared by every request: what they send in one turn goes out as one write.
  const redis = connectRedis({
    url: env.NIMBUS_REDIS_URL,
    name: `gateway/${env.NIMBUS_NODE_ID}`,
    logger: logger.child({ module: "redis" }),
    autoPipelining: true,
    onReadyChange: connections.onRedis,
  });
  // BullMQ's own, without auto-pipelining (its scripts expect plain request/response ordering).
  const queueRedis = connectRedis({ url: env.NIMBUS_REDIS_URL, name: `gateway/${env.NIMBUS_NODE_ID}/queues`, logger: logger.child({ module: "redis" }) });
  const store = await openControlPlane(nc, { naming, replicas: env.NIMBUS_NATS_REPLICAS });
  const onInvalid = (key: string, err: unknown) => logger.warn({ key, err }, "skipping unreadable control-plane record");
  const mirrors = await openMirrors(store, GATEWAY_MIRRORS, onInvalid);
  traceServices(naming, (key) => mirrors.services.get(key)?.value);

  const ctx: GatewayContext = {
    env,
    logger,
    naming,
    arn: { region: env.NIMBUS_REGION, accountId: env.NIMBUS_ACCOUNT_ID },
    store,
    mirrors,
  };
  const serviceCatalog = new ServiceCatalog(ctx);
  const codeLimits = { maxZipBytes: env.NIMBUS_MAX_CODE_ZIP_BYTES, maxUnzippedBytes: env.NIMBUS_MAX_CODE_UNZIPPED_BYTES, maxEntries: 100_000 };
  const layerCatalog = new LayerCatalog(ctx, codeLimits);
  const acceleration = new ImageAcceleration(nc, naming, logger.child({ module: "images" }));
  const pinning = new RegistryPinning(
    {
      ...(env.NIMBUS_REGISTRY_AUTH ? { authFile: env.NIMBUS_REGISTRY_AUTH } : {}),
      insecureRegistries: env.NIMBUS_INSECURE_REGISTRIES,
      timeoutMs: env.NIMBUS_REGISTRY_TIMEOUT_MS,
    },
    logger.child({ module: "images" }),
  );
  const functionCatalog = new FunctionCatalog(ctx, serviceCatalog, codeLimits, layerCatalog, {
    pinning,
    prepull: (image) => acceleration.prepull(image),
  });
  const domainCatalog = new CustomDomainCatalog(ctx);

  const presence = new PresenceTracker(nc, naming);
  const mirrorsReady = () => mirrors.ready();
  const publisher = new PresencePublisher({
    natsUrl: env.NIMBUS_NATS_URL,
    prefix: env.NIMBUS_PREFIX,
    identity: { service: "gateway", node: env.NIMBUS_NODE_ID },
    isReady: () => connections.up && mirrorsReady(),
    logger,
  });
  const dispatcher = new Dispatcher(nc, naming, presence, store.payloads, logger.child({ module: "dispatch" }), {
    ackTimeoutMs: env.NIMBUS_INVOKE_ACK_TIMEOUT_MS,
    livenessCheckMs: 500,
    direct: { caller: `gateway/${env.NIMBUS_NODE_ID}` },
  });

  const keys = new Map([[env.NIMBUS_ACCESS_KEY_ID, env.NIMBUS_ACCESS_KEY_SECRET]]);
  const authenticator = createAuthenticator(keys);
  const triggerCatalog = new TriggerCatalog(ctx, serviceCatalog, functionCatalog);
  const http = createHttpServer({
    isCustomDomain: (host) => domainCatalog.has(host),
    logger,
    authenticator,
    maxHeaderBytes: env.NIMBUS_MAX_HEADER_BYTES,
    headersTimeoutMs: env.NIMBUS_HEADERS_TIMEOUT_MS,
    requestTimeoutMs: env.NIMBUS_REQUEST_TIMEOUT_MS,
  });
  instrumentHttp(http, registry);
  healthRoutes(
    http,
    { natsConnected: () => connections.nats, redisReady: () => connections.redis, mirrorsReady, presence, requiredServices: env.NIMBUS_REQUIRED_SERVICES },
    registry,
  );
  serviceRoutes(http, serviceCatalog);
  layerRoutes(http, ctx, layerCatalog, codeBodyLimit(env.NIMBUS_MAX_CODE_ZIP_BYTES));
  const versionCatalog = new VersionCatalog(ctx, serviceCatalog);
  versionRoutes(http, versionCatalog, new AliasCatalog(ctx, serviceCatalog, versionCatalog));
  functionRoutes(http, ctx, functionCatalog, codeBodyLimit(env.NIMBUS_MAX_CODE_ZIP_BYTES), {
    acceleration: (digest) => acceleration.status(digest),
    interpreters: (runtime) => interpretersFor(presence.alive(), runtime),
  });
  tagRoutes(http, serviceCatalog);
  consoleRoutes(http);
  accountRoutes(http, ctx);
  codeRoutes(http, ctx);
  const limits = { maxSyncBodyBytes: env.NIMBUS_MAX_SYNC_BODY_BYTES, maxAsyncBodyBytes: env.NIMBUS_MAX_ASYNC_BODY_BYTES };
  const resolver = new TargetResolver(mirrors, naming);
  const caller = new FunctionCaller(resolver, dispatcher, { coldStartAllowanceMs: env.NIMBUS_COLD_START_ALLOWANCE_MS, maxResponseBytes: env.NIMBUS_MAX_RESPONSE_BYTES });
  const queues = new AsyncQueues(queueRedis, nc, naming);
  const records = new InvocationStore(redis, naming, env.NIMBUS_ASYNC_RETENTION_MS);
  const clock = new RedisClock(redis);
  const intake = {
    submitter: new AsyncSubmitter(queues, records, redis, naming, {
      now: () => clock.now(),
      replicas: { count: env.NIMBUS_REDIS_WAIT_REPLICAS, timeoutMs: env.NIMBUS_REDIS_WAIT_MS },
      maxBacklog: env.NIMBUS_ASYNC_MAX_BACKLOG,
      asyncConfig: (service, qualifier, fn) => effectiveAsyncConfig((key) => mirrors.asyncConfigs.get(key)?.value, service, qualifier, fn),
    }),
    redisReady: () => connections.redis,
    timeoutMs: env.NIMBUS_ASYNC_ENQUEUE_TIMEOUT_MS,
  };
  invocationRoutes(http, caller, intake, limits, (service, fn, base) => triggerCatalog.httpTriggerUrls(service, fn, base));
  asyncConfigRoutes(http, ctx, resolver);
  statefulInvocationRoutes(http, { resolver, records, queues, dispatcher, submitter: intake.submitter });
  triggerRoutes(http, ctx, triggerCatalog);
  const httpDeps = { caller, triggers: triggerCatalog, authenticator, limits, intake };
  proxyRoutes(http, httpDeps);
  customDomainRoutes(http, ctx, domainCatalog, httpDeps);
  capacityRoutes(http, ctx, functionCatalog, redis);
  provisionRoutes(http, ctx, functionCatalog, redis);
  logRoutes(http, ctx, functionCatalog, nc, redis);

  const collector = new CodeCollector(ctx, { intervalMs: env.NIMBUS_CODE_GC_INTERVAL_MS, graceMs: env.NIMBUS_CODE_GC_GRACE_MS });

  let stopped: Promise<void> | undefined;
  return {
    async start() {
      // Report ready only once Redis is reachable too (or say so in /readyz if it is not, after a while).
      await connections.redisReady();
      await clock.start();
      await publisher.start();
      await presence.start();
      collector.start();
      acceleration.start();
      dispatcher.start();
      await http.listen({ host: env.NIMBUS_HOST, port: env.NIMBUS_PORT });
      const address = http.server.address();
      return { port: typeof address === "object" && address ? address.port : env.NIMBUS_PORT };
    },
    stop() {
      stopped ??= (async () => {
        await publisher.stop();
        await presence.stop();
        await http.close();
        clock.stop();
        dispatcher.stop();
        acceleration.stop();
        await collector.stop();
        await queues.close();
        queueRedis.disconnect();
        await mirrors.stop();
        redis.disconnect();
        await drainNats(nc, env.NIMBUS_SHUTDOWN_TIMEOUT_MS / 2);
      })();
      return stopped;
    },
  };
}
