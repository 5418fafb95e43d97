import { Kvm } from "@nats-io/kv";
import { Objm } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/nats-core";
import { nanos } from "@nats-io/nats-core";
import {
  AliasRecord,
  AsyncConfigRecord,
  CounterRecord,
  CustomDomainRecord,
  FunctionRecord,
  LayerVersionRecord,
  OnDemandConfigRecord,
  ProvisionConfigRecord,
  ServiceRecord,
  TriggerRecord,
  VersionRecord,
  type Naming,
} from "@nimbus/protocol";
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
  versions: KvRepository<VersionRecord>;
  versionFunctions: KvRepository<FunctionRecord>;
  aliases: KvRepository<AliasRecord>;
  layers: KvRepository<LayerVersionRecord>;
  provisionConfigs: KvRepository<ProvisionConfigRecord>;
  customDomains: KvRepository<CustomDomainRecord>;
  counters: KvRepository<CounterRecord>;
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
  const b = naming.buckets;
  const [services, functions, triggers, onDemandConfigs, asyncConfigs, versions, versionFunctions, aliases, layers, provisionConfigs, customDomains, counters] =
    await Promise.all([
      bucket(b.services),
      bucket(b.functions),
      bucket(b.triggers),
      bucket(b.onDemandConfigs),
      bucket(b.asyncConfigs),
      bucket(b.versions),
      bucket(b.versionFunctions),
      bucket(b.aliases),
      bucket(b.layers),
      bucket(b.provisionConfigs),
      bucket(b.customDomains),
      bucket(b.counters),
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
    versions: new KvRepository(versions, VersionRecord, "version"),
    versionFunctions: new KvRepository(versionFunctions, FunctionRecord, "versioned function"),
    aliases: new KvRepository(aliases, AliasRecord, "alias"),
    layers: new KvRepository(layers, LayerVersionRecord, "layer version"),
    provisionConfigs: new KvRepository(provisionConfigs, ProvisionConfigRecord, "provision config"),
    customDomains: new KvRepository(customDomains, CustomDomainRecord, "custom domain"),
    counters: new KvRepository(counters, CounterRecord, "counter"),
    code: new CodeStore(code, naming),
    payloads: new PayloadStore(payloads),
  };
}
