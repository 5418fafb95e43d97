import { describe, expect, it } from "vitest";
import { bullQueueKey, createNaming } from "./naming.js";

const naming = createNaming();

describe("naming", () => {
  it("reads back the parts of the KV keys it builds, whatever order they are built in", () => {
    const k = naming.kvKeys;
    expect(naming.parseKey.function(k.function("svc", "fn"))).toEqual({ service: "svc", fn: "fn" });
    expect(naming.parseKey.version(k.version("svc", "3"))).toEqual({ service: "svc", versionId: "3" });
    expect(naming.parseKey.asyncConfig(k.asyncConfig("svc", "prod", "fn"))).toEqual({ service: "svc", fn: "fn", qualifier: "prod" });
    expect(naming.parseKey.onDemandConfig(k.onDemandConfig("svc", "prod", "fn"))).toEqual({ service: "svc", qualifier: "prod", fn: "fn" });
  });

  it("puts every Redis key of a function, its BullMQ queue's included, under the function's hash tag", () => {
    const tag = (key: string) => /\{([^}]*)\}/.exec(key)?.[1];
    const r = naming.redis;
    const queue = bullQueueKey(naming.bull.asyncQueue("svc", "fn"));
    const keys = [
      `${queue}:wait`,
      `${queue}:inv-1:lock`,
      r.instances("svc", "fn"),
      r.invocation("svc", "fn", "inv-1"),
      r.invocationEvents("svc", "fn", "inv-1"),
      r.invocationSeen("svc", "fn", "inv-1"),
      r.invocationIndex("svc", "fn"),
      r.logIndex("svc", "fn", "req-1"),
      r.logUsage("svc", "fn"),
      r.logUsageTotal("svc", "fn"),
      r.logUsageCounted("svc", "fn", 7),
      r.functionMinute("svc", "fn", 1),
      r.qualifierMinute("svc", "fn", "prod", 1),
      r.countedBatch("svc", "fn", 7),
    ];
    for (const key of keys) expect(tag(key), key).toBe("svc:fn");
    // The timers' queue has a tag of its own; the queue before tags had none.
    expect(tag(bullQueueKey(naming.bull.timers))).toBe("timers");
    expect(tag(bullQueueKey(naming.bull.legacyAsyncQueue("svc", "fn")))).toBeUndefined();
  });
});
