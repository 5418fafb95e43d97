/**
 * Every NATS subject, KV bucket, KV key, object-store bucket and Redis key Nimbus uses is built here
 * and nowhere else. Subjects are lowercase dot tokens, broad to narrow, under one prefix; unbounded
 * ids (request ids) never appear in a subject — they travel in headers.
 */

const PREFIX_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;

/** The default prefix of every subject, bucket and key. */
export const DEFAULT_PREFIX = "nimbus";

/** Builds the names for one Nimbus installation (one prefix). */
export function createNaming(prefix: string = DEFAULT_PREFIX) {
  if (!PREFIX_PATTERN.test(prefix)) {
    throw new Error(`invalid Nimbus prefix '${prefix}': lowercase letters, digits and '-', starting with a letter`);
  }
  const bucket = (kind: string) => `${prefix}_${kind}`;
  return {
    prefix,
    buckets: {
      services: bucket("services"),
      functions: bucket("functions"),
      triggers: bucket("triggers"),
      onDemandConfigs: bucket("ondemand"),
      asyncConfigs: bucket("asyncconfig"),
      versions: bucket("versions"),
      versionFunctions: bucket("versionfns"),
      aliases: bucket("aliases"),
      layers: bucket("layers"),
      provisionConfigs: bucket("provision"),
      customDomains: bucket("domains"),
      /** Last ids handed out (service versions, layer versions): never reused. */
      counters: bucket("counters"),
    },
    objectStores: {
      code: bucket("code"),
      /** Invocation payloads and results larger than the NATS server's max_payload (short-lived). */
      payloads: bucket("payloads"),
    },
    kvKeys: {
      service: (service: string) => service,
      function: (service: string, fn: string) => `${service}.${fn}`,
      /** KV key filter matching every function of a service. */
      functionsOf: (service: string) => `${service}.*`,
      trigger: (service: string, fn: string, trigger: string) => `${service}.${fn}.${trigger}`,
      /** KV key filter matching every trigger of a function. */
      triggersOf: (service: string, fn: string) => `${service}.${fn}.*`,
      /** On-demand configs are per function and qualifier. */
      onDemandConfig: (service: string, qualifier: string, fn: string) => `${service}.${qualifier}.${fn}`,
      /** Async configs are per function and qualifier. */
      asyncConfig: (service: string, qualifier: string, fn: string) => `${service}.${fn}.${qualifier}`,
      /** KV key filter matching every async config of a function. */
      asyncConfigsOf: (service: string, fn: string) => `${service}.${fn}.*`,
      version: (service: string, versionId: string) => `${service}.${versionId}`,
      versionsOf: (service: string) => `${service}.*`,
      /** A function as frozen in a version. */
      versionFunction: (service: string, versionId: string, fn: string) => `${service}.${versionId}.${fn}`,
      versionFunctionsOf: (service: string, versionId: string) => `${service}.${versionId}.*`,
      alias: (service: string, alias: string) => `${service}.${alias}`,
      aliasesOf: (service: string) => `${service}.*`,
      layerVersion: (layer: string, version: number) => `${layer}.${version}`,
      layerVersionsOf: (layer: string) => `${layer}.*`,
      /** Provision configs are per function and qualifier. */
      provisionConfig: (service: string, qualifier: string, fn: string) => `${service}.${qualifier}.${fn}`,
      /** Custom domains are keyed by their name with the dots made KV-safe ('_' never occurs in host names). */
      customDomain: (domain: string) => domain.replaceAll(".", "_"),
      serviceVersionCounter: (service: string) => `versions.${service}`,
      layerVersionCounter: (layer: string) => `layers.${layer}`,
    },
    /** The parts of the keys built above, read back (names never contain a dot). */
    parseKey: {
      function: (key: string) => {
        const [service = "", fn = ""] = key.split(".");
        return { service, fn };
      },
      version: (key: string) => {
        const [service = "", versionId = ""] = key.split(".");
        return { service, versionId };
      },
      asyncConfig: (key: string) => {
        const [service = "", fn = "", qualifier = ""] = key.split(".");
        return { service, fn, qualifier };
      },
      onDemandConfig: (key: string) => {
        const [service = "", qualifier = "", fn = ""] = key.split(".");
        return { service, qualifier, fn };
      },
    },
    objects: {
      /** Code packages are content-addressed by their SHA-256 (hex). */
      code: (sha256: string) => `sha256-${sha256}`,
    },
    subjects: {
      /** Every service publishes its heartbeat here. */
      presence: `${prefix}.presence.beat`,
      /** A request on this subject makes every service publish its heartbeat at once. */
      presenceProbe: `${prefix}.presence.probe`,
      /** Invocations of one instance class: invokers holding instances of it subscribe (queue group). */
      invokeClass: (service: string, fn: string, cls: string) => `${prefix}.invoke.fn.${service}.${fn}.${cls}`,
      /** Invocations nobody holds an instance for: any invoker may take it and cold-start (queue group). */
      invokePlace: `${prefix}.invoke.place`,
      /** Invocations redirected to one invoker node. */
      invokeNode: (node: string) => `${prefix}.invoke.node.${node}`,
      /** Stop a running invocation (request id in a header): every invoker checks its own. */
      invokeCancel: `${prefix}.invoke.cancel`,
      /** An async queue has work: async-queue replicas start a worker for it. */
      asyncWake: `${prefix}.async.wake`,
      /**
       * Pre-pull an image (ImagePrepull): every invoker node pulls it into its cache. Published by a
       * gateway after a create/update that resolved an image with accelerationType Default.
       */
      imagesPrepull: `${prefix}.images.prepull`,
      /** An invoker node has an image in its cache now (ImagePulled); gateways mark it Ready. */
      imagesPulled: `${prefix}.images.pulled`,
      /** Request/reply: every invoker node answers with what its image cache holds (ImageListReply). */
      imagesList: `${prefix}.images.list`,
      /** Batches of one function's output lines (stored by the logs stream, followed live by the logs API). */
      logs: (service: string, fn: string) => `${prefix}.logs.${service}.${fn}`,
      logsAll: `${prefix}.logs.>`,
      /** Batches of one function's invocation records. */
      invocationRecords: (service: string, fn: string) => `${prefix}.invocations.${service}.${fn}`,
      invocationRecordsAll: `${prefix}.invocations.>`,
    },
    queues: {
      invokers: "invokers",
    },
    streams: {
      /** Function output and invocation records, kept for the log retention. */
      logs: `${prefix.toUpperCase().replaceAll("-", "_")}_LOGS`,
    },
    redis: {
      /** Invoker nodes: node → when its heartbeat expires (ms, Redis's clock). */
      nodes: `${prefix}:nodes`,
      /** Every live instance of a function: instance id → JSON. */
      instances: (service: string, fn: string) => `${prefix}:instances:{${service}:${fn}}`,
      /** A provision config's target tracking: each node's recent use of its provisioned instances (node → JSON). */
      provisionUsage: (service: string, qualifier: string, fn: string) => `${prefix}:provision:{${service}:${qualifier}:${fn}}:usage`,
      /** …the target its policy decided last (JSON), and who decides next (a lease). */
      provisionTracked: (service: string, qualifier: string, fn: string) => `${prefix}:provision:{${service}:${qualifier}:${fn}}:tracked`,
      provisionLease: (service: string, qualifier: string, fn: string) => `${prefix}:provision:{${service}:${qualifier}:${fn}}:lease`,
      /** Nodes with a free slot in an instance of this class. */
      idle: (cls: string) => `${prefix}:idle:${cls}`,
      /** Every function that ever had an async queue (scanned by async-queue at start): members are function keys (`kvKeys.function`). */
      asyncQueues: `${prefix}:async:queues`,
      /** One asynchronous invocation's record (FC's stateful-async-invocation). */
      invocation: (service: string, fn: string, id: string) => `${prefix}:async:inv:{${service}:${fn}}:${id}`,
      /** A caller-chosen id of an invocation that keeps no record: "pending" until its job is queued, then "queued". */
      invocationSeen: (service: string, fn: string, id: string) => `${prefix}:async:seen:{${service}:${fn}}:${id}`,
      /** Its state changes, oldest first (ids never contain ':', so this never collides). */
      invocationEvents: (service: string, fn: string, id: string) => `${prefix}:async:inv:{${service}:${fn}}:${id}:events`,
      /** The logs stream sequences holding a request's output lines. */
      logIndex: (service: string, fn: string, requestId: string) => `${prefix}:logs:req:{${service}:${fn}}:${requestId}`,
      /** What a function holds in the logs stream, in chunks of consecutive batches ("firstSeq bytes startMs"), oldest first. */
      logUsage: (service: string, fn: string) => `${prefix}:logs:usage:{${service}:${fn}}`,
      /** The bytes those chunks add up to. */
      logUsageTotal: (service: string, fn: string) => `${prefix}:logs:usage:{${service}:${fn}}:total`,
      /** A batch of a function's output already accounted for (the collector may see one twice). */
      logUsageCounted: (service: string, fn: string, seq: number) => `${prefix}:logs:usage:{${service}:${fn}}:counted:${seq}`,
      /** A function's invocation figures for one minute (epoch minute). */
      functionMinute: (service: string, fn: string, minute: number) => `${prefix}:fnm:{${service}:${fn}}:${minute}`,
      /** The same figures for the calls made on one qualifier (an alias, a version; LATEST's are the function's). */
      qualifierMinute: (service: string, fn: string, qualifier: string, minute: number) => `${prefix}:fnm:{${service}:${fn}}:q:${qualifier}:${minute}`,
      /** A batch of invocation records already counted (the collector may see one twice). */
      countedBatch: (service: string, fn: string, seq: number) => `${prefix}:fnm:{${service}:${fn}}:counted:${seq}`,
      /** A function's invocations by start time (for listing). */
      invocationIndex: (service: string, fn: string) => `${prefix}:async:idx:{${service}:${fn}}`,
    },
    bull: {
      /**
       * The async queue of one function. Its prefix carries the function's hash tag, so the queue's
       * keys and the function's invocation records share one Redis Cluster slot (BullMQ's scripts
       * and ours touch both at once), while different functions spread over the cluster.
       */
      asyncQueue: (service: string, fn: string): BullQueueName => ({ prefix: `${prefix}:q:{${service}:${fn}}`, name: "async" }),
      /** Where a function's async queue was before it had a hash tag: still drained, never added to. */
      legacyAsyncQueue: (service: string, fn: string): BullQueueName => ({ prefix, name: `async.${service}.${fn}` }),
      /** The queue of every timer trigger's ticks. */
      timers: { prefix: `${prefix}:{timers}`, name: "timers" } as BullQueueName,
      legacyTimers: { prefix, name: "timers" } as BullQueueName,
    },
  } as const;
}

export type Naming = ReturnType<typeof createNaming>;

/** A BullMQ queue: its key prefix and name (its keys are `<prefix>:<name>:<kind>`). */
export interface BullQueueName {
  prefix: string;
  name: string;
}

/** The key a BullMQ queue's name and prefix make: what tells two queues apart. */
export function bullQueueKey(queue: BullQueueName): string {
  return `${queue.prefix}:${queue.name}`;
}
