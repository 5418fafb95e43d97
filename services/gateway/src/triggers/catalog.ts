import { randomUUID } from "node:crypto";
import { z } from "zod";
import {
  errors,
  fcTimestamp,
  LATEST,
  parseOrThrow,
  parseOssArn,
  subjectsOverlap,
  TRIGGER_CONFIGS,
  triggerView,
  type HttpTriggerConfig,
  type NatsTriggerConfig,
  type TriggerRecord,
} from "@nimbus/protocol";
import { CAS_ATTEMPTS, type GatewayContext, type WriteGuard } from "../context.js";
import type { FunctionCatalog } from "../functions/catalog.js";
import type { ServiceCatalog } from "../services/catalog.js";

export interface TriggerInput {
  triggerName: string;
  triggerType: string;
  triggerConfig: unknown;
  description?: string | undefined;
  qualifier?: string | undefined;
  sourceArn?: string | undefined;
  invocationRole?: string | undefined;
}

const TRIGGERS_PER_FUNCTION = 50;

/** The config of a trigger type, validated (unknown types are refused). */
function validConfig(type: string, config: unknown): Record<string, unknown> {
  const schema = (TRIGGER_CONFIGS as Record<string, z.ZodType>)[type];
  if (!schema) throw errors.invalidArgument(`triggerType '${type}' is not supported (supported: ${Object.keys(TRIGGER_CONFIGS).join(", ")})`);
  const parsed = parseOrThrow(schema, config ?? {});
  return parsed as Record<string, unknown>;
}

/** Trigger CRUD: a trigger belongs to a function and binds it to a qualifier. */
export class TriggerCatalog {
  /** `svc/fn` of every function with an HTTP trigger, rebuilt after a trigger changes (API invocations ask on every call). */
  private httpFunctions: Set<string> | undefined;

  constructor(
    private readonly ctx: GatewayContext,
    private readonly services: ServiceCatalog,
    private readonly functions: FunctionCatalog,
  ) {
    ctx.mirrors.triggers.onChange(() => (this.httpFunctions = undefined));
  }

  /** The URLs of a function's HTTP triggers for `baseUrl` (none for most functions, answered without a scan). */
  httpTriggerUrls(service: string, fn: string, baseUrl: string): string[] {
    this.httpFunctions ??= new Set([...this.ctx.mirrors.triggers.values()].filter(({ value }) => value.triggerType === "http").map(({ value }) => `${value.serviceName}/${value.functionName}`));
    if (!this.httpFunctions.has(`${service}/${fn}`)) return [];
    return this.list(service, fn)
      .filter((t) => t.triggerType === "http")
      .map((t) => triggerView(t, baseUrl).urlInternet);
  }

  get(service: string, fn: string, trigger: string): TriggerRecord {
    this.functions.get(service, fn);
    const found = this.ctx.mirrors.triggers.get(this.ctx.naming.kvKeys.trigger(service, fn, trigger));
    if (!found) throw errors.triggerNotFound(service, fn, trigger);
    return found.value;
  }

  list(service: string, fn: string): TriggerRecord[] {
    this.functions.get(service, fn);
    return [...this.ctx.mirrors.triggers.withPrefix(this.ctx.naming.kvKeys.trigger(service, fn, ""))].map(([, v]) => v.value);
  }

  /**
   * What a trigger type requires beyond its config's schema: an OSS trigger names its bucket; a
   * NATS trigger never listens on Nimbus's own subjects (nor JetStream's or inboxes), and a durable
   * one never overlaps another durable trigger (each has a stream, and streams cannot overlap).
   */
  private checkType(record: TriggerRecord): void {
    if (record.triggerType === "oss" && !parseOssArn(record.sourceArn)) {
      throw errors.invalidArgument(`an oss trigger needs sourceArn acs:oss:{region}:{account}:{bucket}, got '${record.sourceArn.slice(0, 300)}'`);
    }
    if (record.triggerType !== "nats") return;
    const config = record.triggerConfig as NatsTriggerConfig;
    for (const reserved of [`${this.ctx.naming.prefix}.>`, "$JS.>", "$SYS.>", "$KV.>", "$O.>", "_INBOX.>"]) {
      if (subjectsOverlap(config.subject, reserved)) {
        throw errors.invalidArgument(`subject '${config.subject}' overlaps '${reserved}', which the platform or NATS itself uses`);
      }
    }
    if (!config.durable) return;
    for (const { value } of this.ctx.mirrors.triggers.values()) {
      if (value.triggerType !== "nats" || (value.serviceName === record.serviceName && value.functionName === record.functionName && value.triggerName === record.triggerName)) continue;
      const other = value.triggerConfig as NatsTriggerConfig;
      if (other.durable && subjectsOverlap(other.subject, config.subject)) {
        throw errors.invalidArgument(
          `durable subject '${config.subject}' overlaps '${other.subject}' of durable trigger '${value.triggerName}' (${value.serviceName}/${value.functionName}); durable triggers need subjects of their own`,
        );
      }
    }
  }

  /** The HTTP trigger of a function for a qualifier, if it has one. */
  httpTrigger(service: string, fn: string, qualifier: string): (TriggerRecord & { triggerConfig: HttpTriggerConfig }) | undefined {
    for (const [, { value }] of this.ctx.mirrors.triggers.withPrefix(this.ctx.naming.kvKeys.trigger(service, fn, ""))) {
      if (value.triggerType === "http" && value.qualifier === qualifier) return value as TriggerRecord & { triggerConfig: HttpTriggerConfig };
    }
    return undefined;
  }

  async create(service: string, fn: string, input: TriggerInput): Promise<TriggerRecord> {
    const qualifier = input.qualifier ?? LATEST;
    this.services.getQualified(service, qualifier);
    const config = validConfig(input.triggerType, input.triggerConfig);
    if (!(await this.ctx.store.functions.get(this.ctx.naming.kvKeys.function(service, fn)))) throw errors.functionNotFound(service, fn);
    const key = this.ctx.naming.kvKeys.trigger(service, fn, input.triggerName);
    if (await this.ctx.store.triggers.get(key)) throw errors.triggerExists(service, fn, input.triggerName);
    const existing = await this.ctx.store.triggers.keys(this.ctx.naming.kvKeys.triggersOf(service, fn));
    if (existing.length >= TRIGGERS_PER_FUNCTION) throw errors.invalidArgument(`a function can have at most ${TRIGGERS_PER_FUNCTION} triggers`);
    if (input.triggerType === "http" && this.httpTrigger(service, fn, qualifier)) {
      throw errors.invalidArgument(`function '${fn}' already has an HTTP trigger for qualifier '${qualifier}' (one per version or alias)`);
    }
    const now = fcTimestamp();
    const record: TriggerRecord = {
      serviceName: service,
      functionName: fn,
      triggerName: input.triggerName,
      triggerId: randomUUID(),
      triggerType: input.triggerType,
      triggerConfig: config,
      description: input.description ?? "",
      qualifier,
      sourceArn: input.sourceArn ?? "",
      invocationRole: input.invocationRole ?? "",
      createdTime: now,
      lastModifiedTime: now,
    };
    this.checkType(record);
    if ((await this.ctx.store.triggers.create(key, record)) === "exists") throw errors.triggerExists(service, fn, input.triggerName);
    // A concurrent delete of the function must not leave this trigger behind.
    if (!(await this.functions.touch(service, fn))) {
      await this.ctx.store.triggers.delete(key);
      throw errors.functionNotFound(service, fn);
    }
    return record;
  }

  async update(
    service: string,
    fn: string,
    trigger: string,
    change: { triggerConfig?: unknown; description?: string | undefined; qualifier?: string | undefined; invocationRole?: string | undefined },
    guard: WriteGuard<TriggerRecord> = {},
  ): Promise<TriggerRecord> {
    const key = this.ctx.naming.kvKeys.trigger(service, fn, trigger);
    if (change.qualifier) this.services.getQualified(service, change.qualifier);
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const current = await this.ctx.store.triggers.get(key);
      if (!current) throw errors.triggerNotFound(service, fn, trigger);
      guard.check?.(current.value);
      const next: TriggerRecord = {
        ...current.value,
        ...(change.triggerConfig === undefined ? {} : { triggerConfig: validConfig(current.value.triggerType, change.triggerConfig) }),
        ...(change.description === undefined ? {} : { description: change.description }),
        ...(change.qualifier === undefined ? {} : { qualifier: change.qualifier }),
        ...(change.invocationRole === undefined ? {} : { invocationRole: change.invocationRole }),
        lastModifiedTime: fcTimestamp(),
      };
      this.checkType(next);
      if (next.triggerType === "http" && next.qualifier !== current.value.qualifier) {
        const other = this.httpTrigger(service, fn, next.qualifier);
        if (other && other.triggerName !== trigger) throw errors.invalidArgument(`function '${fn}' already has an HTTP trigger for qualifier '${next.qualifier}'`);
      }
      if ((await this.ctx.store.triggers.update(key, next, current.revision)) !== "conflict") return next;
      if (guard.strict) throw errors.preconditionFailed();
    }
    throw errors.concurrentUpdate(`trigger '${trigger}'`);
  }

  async delete(service: string, fn: string, trigger: string, guard: WriteGuard<TriggerRecord> = {}): Promise<void> {
    const key = this.ctx.naming.kvKeys.trigger(service, fn, trigger);
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const current = await this.ctx.store.triggers.get(key);
      if (!current) {
        this.functions.get(service, fn);
        throw errors.triggerNotFound(service, fn, trigger);
      }
      guard.check?.(current.value);
      if ((await this.ctx.store.triggers.delete(key, current.revision)) === "deleted") return;
      if (guard.strict) throw errors.preconditionFailed();
    }
    throw errors.concurrentUpdate(`trigger '${trigger}'`);
  }
}
