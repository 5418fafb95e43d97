import { createHash } from "node:crypto";
import { cp, mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { RUNTIME_DIR } from "@nimbus/runtime-node";
import { PYTHON_RUNTIME_DIR } from "@nimbus/runtime-python";
import { createNaming, DEFAULT_MAXIMUM_INSTANCE_COUNT, instanceClass, parseLayerVersionArn } from "@nimbus/protocol";
import { Sandboxer } from "@nimbus/sandbox";
import { Connections, connectNats, connectRedis, drainNats, PresencePublisher, traceServices, type App } from "@nimbus/service-kit";
import { ensureLogStream, openControlPlane, openMirrors } from "@nimbus/store";
import { createFaasMetrics, createMetricsRegistry, Gauge, type Logger } from "@nimbus/telemetry";
import { hostPlatform } from "@nimbus/images";
import { NodeImages } from "./images/node-images.js";
import { LogShipper } from "./telemetry/log-shipper.js";
import { InvocationRecorder } from "./telemetry/recorder.js";
import { Registry } from "./cluster/registry.js";
import { CodeCache } from "./code/cache.js";
import { LayerCache } from "./code/layers.js";
import type { InvokerEnv } from "./env.js";
import { createInvokeHandler } from "./invoke.js";
import { Pool } from "./pool/pool.js";
import { Provisioner } from "./pool/provisioner.js";
import { TargetTracking } from "./pool/tracking.js";
import { PYTHON_DIR } from "./pool/instance-spec.js";
import { interpreters, vendorMsgpack } from "./pool/python.js";
import { Resolver } from "./resolver.js";
import { InvokeServer } from "./transport/server.js";
import { DirectServer } from "./transport/direct.js";

export interface InvokerDeps {
  env: InvokerEnv;
  logger: Logger;
}

/** Headroom left in a NATS message for headers and the reply's other fields. */
const INLINE_HEADROOM = 64 * 1024;
const PRESENCE_INTERVAL_MS = 1_000;
/** What a pre-started sandbox holds of the node's memory budget while it waits: FC's smallest memorySize. */
const PRESTART_MEMORY_MB = 128;

/** Builds an invoker node: its sandboxer, code cache, instance pool, registry and NATS server. */
export async function buildInvoker({ env, logger }: InvokerDeps): Promise<App> {
  process.umask(0o022); // unpacked code must be readable by the sandbox uid
  const naming = createNaming(env.NIMBUS_PREFIX);
  const node = env.NIMBUS_NODE_ID;

  // Instances mount the runtime from here: a copy inside the invoker's directory, which the sandbox uid
  // can reach even when the checkout cannot be (a home directory, say).
  await mkdir(env.invokerDir, { recursive: true, mode: 0o755 });
  const runtimeDir = join(env.invokerDir, "runtime");
  await rm(runtimeDir, { recursive: true, force: true });
  await cp(RUNTIME_DIR, runtimeDir, { recursive: true });
  await cp(PYTHON_RUNTIME_DIR, join(runtimeDir, PYTHON_DIR), { recursive: true });
  interpreters.configure(env.NIMBUS_PYTHON_INTERPRETERS);
  if (interpreters.configuredPaths().length) await vendorMsgpack(join(runtimeDir, PYTHON_DIR));

  const sandboxer = await Sandboxer.create({
    workDir: join(env.invokerDir, "sandbox"),
    // Named after the node and its directory: two invokers sharing a node id on one host (test
    // clusters do) never sweep each other's instances.
    cgroupGroup: `nimbus/${node}.${createHash("sha256").update(env.invokerDir).digest("hex").slice(0, 8)}`,
    uid: env.NIMBUS_SANDBOX_UID,
    gid: env.NIMBUS_SANDBOX_GID,
    requireBwrap: env.NIMBUS_REQUIRE_SANDBOX,
    disableCgroups: env.NIMBUS_DISABLE_CGROUPS,
    tmpBytes: env.NIMBUS_SANDBOX_TMP_BYTES,
    programs: interpreters.configuredPaths(),
  });
  logger.info({ sandbox: sandboxer.describe() }, "sandbox");
  for (const warning of sandboxer.warnings) logger.warn(warning);
  for (const note of sandboxer.notes) logger.info(note);

  const metrics = createMetricsRegistry({ service: "invoker", node });
  const connections = new Connections(metrics);
  const nc = await connectNats({ url: env.NIMBUS_NATS_URL, name: `invoker/${node}`, logger: logger.child({ module: "nats" }), onConnectedChange: connections.onNats });
  const redis = connectRedis({ url: env.NIMBUS_REDIS_URL, name: `invoker/${node}`, logger: logger.child({ module: "redis" }), onReadyChange: connections.onRedis });
  const store = await openControlPlane(nc, { naming, replicas: env.NIMBUS_NATS_REPLICAS });
  const onInvalid = (key: string, err: unknown) => logger.warn({ key, err }, "skipping unreadable control-plane record");
  const mirrors = await openMirrors(store, ["services", "functions", "versions", "versionFunctions", "onDemandConfigs", "layers", "provisionConfigs", "aliases"], onInvalid);
  traceServices(naming, (key) => mirrors.services.get(key)?.value);
  const { services, functions, versions, onDemandConfigs: onDemand } = mirrors;

  const codeCache = new CodeCache(
    store.code,
    { dir: join(env.invokerDir, "code"), maxBytes: env.NIMBUS_CODE_CACHE_BYTES, maxUnzippedBytes: env.NIMBUS_MAX_CODE_UNZIPPED_BYTES },
    logger.child({ module: "code-cache" }),
  );
  await codeCache.init();
  const layerCache = new LayerCache(codeCache, join(env.invokerDir, "layers"), logger.child({ module: "layers" }));
  await layerCache.init();
  const layers = {
    /** Resolves layer ARNs to their packages (a deleted layer version still serves the functions that use it). */
    acquire: (arns: readonly string[]) => {
      const packages = arns.map((arn) => {
        const parsed = parseLayerVersionArn(arn);
        const record = parsed ? mirrors.layers.get(naming.kvKeys.layerVersion(parsed.layer, parsed.version))?.value : undefined;
        if (!record) throw new Error(`layer ${arn} does not exist`);
        return record.codeSha256;
      });
      return layerCache.acquire(packages);
    },
    release: (dir: string) => layerCache.release(dir),
  };
  const images = new NodeImages(
    nc,
    naming,
    node,
    {
      dir: join(env.invokerDir, "images"),
      maxBytes: env.NIMBUS_IMAGE_CACHE_BYTES,
      maxImageBytes: env.NIMBUS_MAX_IMAGE_BYTES,
      access: {
        ...(env.NIMBUS_REGISTRY_AUTH ? { authFile: env.NIMBUS_REGISTRY_AUTH } : {}),
        insecureRegistries: env.NIMBUS_INSECURE_REGISTRIES,
        timeoutMs: env.NIMBUS_REGISTRY_TIMEOUT_MS,
      },
      platform: hostPlatform(),
      logger: logger.child({ module: "images" }),
    },
    logger.child({ module: "images" }),
  );
  await images.start();
  const registry = new Registry(redis, naming, node, env.NIMBUS_NODE_TTL_MS, logger.child({ module: "registry" }));
  // Function output is data, not platform log: it goes to the logs stream (and to Tail).
  await ensureLogStream(nc, naming, { maxAgeMs: env.NIMBUS_LOG_RETENTION, maxBytes: env.NIMBUS_LOG_MAX_BYTES, replicas: env.NIMBUS_NATS_REPLICAS }).catch((err: unknown) =>
    logger.warn({ err }, "cannot create the logs stream yet; function output is published and kept once it exists"),
  );
  const logSink = new LogShipper(nc, naming, {
    maxLineBytes: env.NIMBUS_LOG_MAX_LINE_BYTES,
    maxBytesPerInvocation: env.NIMBUS_LOG_MAX_BYTES_PER_INVOCATION,
    functionRate: { bytesPerSecond: env.NIMBUS_LOG_FUNCTION_BYTES_PER_SECOND, burstBytes: env.NIMBUS_LOG_FUNCTION_BURST_BYTES },
    idleRate: { bytesPerSecond: env.NIMBUS_LOG_IDLE_BYTES_PER_SECOND, burstBytes: env.NIMBUS_LOG_IDLE_BURST_BYTES },
    maxQueuedBytes: 64 * 1024 * 1024,
    flushMs: 100,
  });
  const recorder = new InvocationRecorder(nc, naming, createFaasMetrics(metrics), 200);

  // A sandbox can only be started before its function is known where its memory limit can be set
  // afterwards (a cgroup) and where it is a sandbox at all.
  const prestart = env.NIMBUS_PREWARM > 0 && Boolean(sandboxer.bwrap && sandboxer.cgroups);
  if (env.NIMBUS_PREWARM > 0 && !prestart) logger.info("no pre-started sandboxes: they need bubblewrap and writable cgroups");
  else if (prestart) logger.info({ perKind: env.NIMBUS_PREWARM, memoryMbEach: PRESTART_MEMORY_MB }, "keeping sandboxes pre-started");

  let server: InvokeServer | undefined;
  let direct: DirectServer | undefined;
  const pool = new Pool(
    {
      nodeId: node,
      region: env.NIMBUS_REGION,
      accountId: env.NIMBUS_ACCOUNT_ID,
      memoryBudgetMb: env.NIMBUS_INVOKER_MEMORY_MB,
      maxInstances: env.NIMBUS_INVOKER_MAX_INSTANCES,
      idleMs: env.NIMBUS_INSTANCE_IDLE_MS,
      startTimeoutMs: env.NIMBUS_INSTANCE_START_TIMEOUT_MS,
      queueWaitMs: env.NIMBUS_QUEUE_WAIT_MS,
      pidsMax: env.NIMBUS_INSTANCE_PIDS_MAX,
      maxOutputBytesPerInvocation: env.NIMBUS_LOG_MAX_BYTES_PER_INVOCATION,
      runtimeDir,
      ...(prestart ? { prestart: { size: env.NIMBUS_PREWARM, dir: join(env.invokerDir, "prestart"), memoryMb: PRESTART_MEMORY_MB } } : {}),
    },
    {
      sandboxer,
      codeCache,
      images,
      registry,
      logSink,
      layers,
      logger: logger.child({ module: "pool" }),
      maxInstancesFor: (service, qualifier, fn) =>
        onDemand.get(naming.kvKeys.onDemandConfig(service, qualifier, fn))?.value.maximumInstanceCount ?? DEFAULT_MAXIMUM_INSTANCE_COUNT,
      onClassActive: (key, active) => {
        server?.setClassActive(key, active);
        direct?.setClassActive(key.cls, active);
      },
    },
  );

  // A changed or deleted function's instances of older classes are retired; a deleted version's too.
  functions.onChange((key, current) => {
    const { service, fn } = naming.parseKey.function(key);
    pool.retireFunction(service, fn, current ? instanceClass(current.value) : undefined);
  });
  versions.onChange((key, current) => {
    const { service, versionId } = naming.parseKey.version(key);
    if (!current) pool.retireVersion(service, versionId);
  });
  // A service's internetAccess is part of what its LATEST instances are: a change retires them.
  const internetAccess = new Map<string, boolean>();
  for (const { value } of services.values()) internetAccess.set(value.serviceName, value.internetAccess !== false);
  services.onChange((key, current) => {
    const now = current ? current.value.internetAccess !== false : undefined;
    const before = internetAccess.get(key);
    if (now === undefined) internetAccess.delete(key);
    else internetAccess.set(key, now);
    if (before !== undefined && now !== undefined && before !== now) pool.retireService(key);
  });

  // This node's instances and memory, read when scraped.
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [metrics],
      collect() {
        this.set(read());
      },
    });
  gauge("nimbus_instances", "Function instances on this node.", () => pool.stats.instances);
  gauge("nimbus_prestarted_sandboxes", "Sandboxes started ahead of any function, waiting for one.", () => pool.stats.prestarted);
  gauge("nimbus_instance_classes", "Distinct instance classes (function configurations) on this node.", () => pool.stats.classes);
  gauge("nimbus_instance_memory_used_mb", "memorySize of the instances on this node, summed.", () => pool.stats.memoryUsedMb);
  gauge("nimbus_instance_memory_budget_mb", "What the instances of this node may use in all.", () => env.NIMBUS_INVOKER_MEMORY_MB);
  gauge("nimbus_provisioned_instances", "Provisioned instances on this node.", () => pool.provisionedInstances().length);
  gauge("nimbus_function_log_lines_dropped", "Output lines dropped because NATS could not keep up (since start).", () => logSink.dropped);
  gauge("nimbus_function_log_lines_truncated", "Output chunks dropped by the per-invocation output limit (since start).", () => logSink.truncated);
  gauge("nimbus_function_log_bytes_rate_limited", "Output bytes dropped by the per-function and per-instance output rates (since start).", () => logSink.rateLimitedBytes);

  const tracking = new TargetTracking(redis, naming, node, env.NIMBUS_PROVISION_TRACKING_PERIOD_MS, logger.child({ module: "tracking" }));
  const provisioner = new Provisioner(pool, registry, mirrors, naming, env.NIMBUS_PROVISION_INTERVAL_MS, logger.child({ module: "provisioner" }), tracking);

  const handle = createInvokeHandler({
    node,
    naming,
    resolver: new Resolver(mirrors),
    pool,
    registry,
    payloads: store.payloads,
    recorder,
    maxInlineBytes: () => Math.max(64 * 1024, (nc.info?.max_payload ?? 1024 * 1024) - INLINE_HEADROOM),
  });
  server = new InvokeServer(nc, naming, node, handle, logger.child({ module: "transport" }), (requestId) => pool.cancel(requestId));
  if (env.NIMBUS_INVOKER_DIRECT_LISTEN !== "off") {
    const listen = env.NIMBUS_INVOKER_DIRECT_LISTEN;
    const colon = listen.lastIndexOf(":");
    direct = new DirectServer(
      {
        host: listen.slice(0, colon).replace(/^\[(.*)\]$/, "$1"),
        port: Number(listen.slice(colon + 1)),
        ...(env.NIMBUS_INVOKER_DIRECT_ADVERTISE_HOST ? { advertiseHost: env.NIMBUS_INVOKER_DIRECT_ADVERTISE_HOST } : {}),
        node,
      },
      handle,
      logger.child({ module: "direct" }),
    );
  }
  let presence: PresencePublisher | undefined;

  let stopped: Promise<void> | undefined;
  return {
    async start() {
      await registry.start();
      pool.start();
      server?.start();
      const advert = await direct?.start();
      provisioner.start();
      presence = new PresencePublisher({
        natsUrl: env.NIMBUS_NATS_URL,
        prefix: env.NIMBUS_PREFIX,
        identity: { service: "invoker", node },
        about: { ...(advert ? { direct: advert } : {}), runtimes: interpreters.describe() },
        isReady: () => connections.up,
        intervalMs: PRESENCE_INTERVAL_MS,
        logger,
      });
      await presence.start();
      return { metrics, ready: () => connections.up };
    },
    stop() {
      stopped ??= (async () => {
        // Stop intake, let what is running finish, then take everything down.
        const deadline = Math.max(1_000, env.NIMBUS_SHUTDOWN_TIMEOUT_MS - 2_000);
        await provisioner.stop();
        await Promise.all([server?.drain(deadline), direct?.drain(deadline)]);
        await pool.drain(1_000);
        logSink.flush();
        recorder.flush();
        await presence?.stop();
        images.stop();
        await registry.stop();
        await mirrors.stop();
        redis.disconnect();
        await drainNats(nc, 1_000);
      })();
      return stopped;
    },
  };
}
