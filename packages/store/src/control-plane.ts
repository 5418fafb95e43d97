import { Kvm } from "@nats-io/kv";
import { Objm } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/nats-core";
import { FunctionRecord, ServiceRecord, type Naming } from "@nimbus/protocol";
import { CodeStore } from "./code-store.js";
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
  code: CodeStore;
}

const MAX_RECORD_BYTES = 1024 * 1024;

/** Opens the control-plane buckets, creating them on first use. */
export async function openControlPlane(nc: NatsConnection, options: ControlPlaneOptions): Promise<ControlPlane> {
  const { naming } = options;
  const replicas = options.replicas ?? 1;
  const kvm = new Kvm(nc);
  const bucket = (name: string) => kvm.create(name, { history: 1, replicas, maxValueSize: MAX_RECORD_BYTES });
  const [services, functions] = await Promise.all([bucket(naming.buckets.services), bucket(naming.buckets.functions)]);
  const os = await new Objm(nc).create(naming.objectStores.code, { replicas });
  return {
    services: new KvRepository(services, ServiceRecord, "service"),
    functions: new KvRepository(functions, FunctionRecord, "function"),
    code: new CodeStore(os, naming),
  };
}
