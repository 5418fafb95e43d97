import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { parseOssArn, type OssTriggerConfig, type TriggerRecord } from "@nimbus/protocol";
import type { Mirror } from "@nimbus/store";
import type { Logger } from "@nimbus/telemetry";
import { objectKey, ossEvent, ossEventName, ossMatches, s3Records } from "./events.js";
import type { TriggerInvoker } from "./invoke.js";

/**
 * Object-storage triggers: the S3-format bucket notifications S3-compatible stores (MinIO, Ceph
 * RGW, Garage) publish to NATS, taken from one subject in a queue group shared by every router
 * (each notification handled once; core NATS, so one published while no router runs is not
 * seen — point the store at a JetStream-backed subject and keep a router running). Each record
 * runs, asynchronously and with FC's OSS event, every OSS trigger whose bucket, event names and
 * key prefix/suffix take it.
 */
export class ObjectEvents {
  private sub: Subscription | undefined;
  private pending = new Set<Promise<void>>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly subject: string,
    private readonly triggers: Mirror<TriggerRecord>,
    private readonly invoker: TriggerInvoker,
    private readonly region: string,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.sub = this.nc.subscribe(this.subject, {
      queue: "nimbus-object-events",
      callback: (err, msg) => {
        if (err) return;
        const work = this.handle(msg.data).catch((e: unknown) => this.logger.warn({ err: e }, "object event not handled"));
        this.pending.add(work);
        void work.finally(() => this.pending.delete(work));
      },
    });
    this.logger.info({ subject: this.subject }, "listening for object-storage events");
  }

  async stop(): Promise<void> {
    await this.sub?.drain().catch(() => undefined);
    await Promise.all(this.pending);
  }

  private async handle(body: Uint8Array): Promise<void> {
    const records = s3Records(body);
    if (records.length === 0) {
      this.logger.debug("a message on the object events subject is not an S3-format notification; ignored");
      return;
    }
    const triggers = [...this.triggers.values()].map((v) => v.value).filter((t) => t.triggerType === "oss");
    for (const record of records) {
      const eventName = ossEventName(record.eventName);
      if (!eventName) continue;
      const key = objectKey(record.s3.object.key);
      for (const trigger of triggers) {
        const source = parseOssArn(trigger.sourceArn);
        if (!source || source.bucket !== record.s3.bucket.name) continue;
        if (!ossMatches(trigger.triggerConfig as OssTriggerConfig, eventName, key)) continue;
        const { invocationId } = await this.invoker.submit(trigger, ossEvent(record, eventName, key, source.region || this.region), "oss");
        this.logger.debug({ trigger: trigger.triggerName, bucket: source.bucket, key, eventName, invocationId }, "object event queued");
      }
    }
  }
}
