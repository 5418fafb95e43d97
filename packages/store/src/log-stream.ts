import { jetstreamManager, DiscardPolicy, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { nanos, type NatsConnection } from "@nats-io/nats-core";
import type { Naming } from "@nimbus/protocol";

export interface LogStreamOptions {
  /** How long lines and records are kept. */
  maxAgeMs: number;
  /** The most the stream may hold; the oldest go first beyond it. */
  maxBytes: number;
  replicas: number;
}

/**
 * The JetStream stream that keeps function output and invocation records (what invokers publish
 * on `<prefix>.logs.>` and `<prefix>.invocations.>`), for the retention and within the size cap,
 * oldest discarded first. Created — or brought to these limits — by whoever starts first.
 */
export async function ensureLogStream(nc: NatsConnection, naming: Naming, options: LogStreamOptions): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const config = {
    name: naming.streams.logs,
    subjects: [naming.subjects.logsAll, naming.subjects.invocationRecordsAll],
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    storage: StorageType.File,
    max_age: nanos(options.maxAgeMs),
    max_bytes: options.maxBytes,
    num_replicas: options.replicas,
    description: "Nimbus function output and invocation records",
  };
  try {
    await jsm.streams.add(config);
  } catch {
    await jsm.streams.update(config.name, { subjects: config.subjects, max_age: config.max_age, max_bytes: config.max_bytes });
  }
}
