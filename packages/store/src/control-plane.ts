import { Kvm } from "@nats-io/kv";
import { Objm } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/nats-core";
import { nanos } from "@nats-io/nats-core";
import { AsyncConfigRecord, FunctionRecord, OnDemandConfigRecord, ServiceRecord, TriggerRecord, type Naming } from "@nimbus/protocol";
import { CodeStore } from "./code-store.js";
import { PayloadStore } from "./payload-store.js";
import { KvRepository } from "./repository.js";

export interface ControlPlaneOptions {
  naming: Naming;
  /** JetStream replicas for every bucket (1 on a single server, 3 in a cluster). */
  replicas?: number;
}

/** Every control-plane repository, bound to (and creating if needed) its bucket. */
export interface ControlPlane {
  services: KvRepository<ServiceRecord>;
  functions: KvRepository<FunctionRecord>;
  triggers: KvRepository<TriggerRecord>;
  onDemandConfigs: KvRepository<OnDemandConfigRecord>;
  asyncConfigs: KvRepository<AsyncConfigRecord>;
  code: CodeStore;
  payloads: PayloadStore;
}

/** Parked payloads older than this are gone (no invocation lasts longer than a day). */
const PAYLOAD_TTL_MS = 26 * 3600_000;

const MAX_RECORD_BYTES = 1024 * 1024;

/** Opens the control-plane buckets, creating them on first use. */
export async function openControlPlane(nc: NatsConnection, options: ControlPlaneOptions): Promise<ControlPlane> {
  const { naming } = options;
  const replicas = options.replicas ?? 1;
  const kvm = new Kvm(nc);
  const bucket = (name: string) => kvm.create(name, { history: 1, replicas, maxValueSize: MAX_RECORD_BYTES });
  const [services, functions, triggers, onDemandConfigs, asyncConfigs] = await Promise.all([
    bucket(naming.buckets.services),
    bucket(naming.buckets.functions),
    bucket(naming.buckets.triggers),
    bucket(naming.buckets.onDemandConfigs),
    bucket(naming.buckets.asyncConfigs),
  ]);
  const objm = new Objm(nc);
  const [code, payloads] = await Promise.all([
    objm.create(naming.objectStores.code, { replicas }),
    objm.create(naming.objectStores.payloads, { replicas, ttl: nanos(PAYLOAD_TTL_MS) }),
  ]);
  return {
    services: new KvRepository(services, ServiceRecord, "service"),
    functions: new KvRepository(functions, FunctionRecord, "function"),
    triggers: new KvRepository(triggers, TriggerRecord, "trigger"),
    onDemandConfigs: new KvRepository(onDemandConfigs, OnDemandConfigRecord, "on-demand config"),
    asyncConfigs: new KvRepository(asyncConfigs, AsyncConfigRecord, "async config"),
    code: new CodeStore(code, naming),
    payloads: new PayloadStore(payloads),
  };
}
