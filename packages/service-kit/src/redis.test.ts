import { describe, expect, it } from "vitest";
import { redisClusterTarget, redisTarget } from "./redis.js";

describe("NIMBUS_REDIS_URL", () => {
  it("names one server, with its credentials, database and TLS", () => {
    expect(redisTarget("redis://:p%40ss@10.0.0.5:6380/2")).toEqual({ host: "10.0.0.5", port: 6380, password: "p@ss", db: 2 });
    expect(redisTarget("rediss://user:pw@r.example")).toEqual({ host: "r.example", port: 6379, username: "user", password: "pw", tls: {} });
    expect(redisClusterTarget("redis://10.0.0.5:6379")).toBeUndefined();
  });

  it("names a primary through its sentinels", () => {
    expect(redisTarget("redis+sentinel://:pw@s1:26379,s2:26380/nimbus?sentinelPassword=sp")).toMatchObject({
      name: "nimbus",
      sentinels: [
        { host: "s1", port: 26379 },
        { host: "s2", port: 26380 },
      ],
      password: "pw",
      sentinelPassword: "sp",
    });
  });

  it("names a Redis Cluster by a few of its nodes", () => {
    expect(redisClusterTarget("redis+cluster://:p%3Aw@r1:6379, r2:6380,r3")).toEqual({
      nodes: [
        { host: "r1", port: 6379 },
        { host: "r2", port: 6380 },
        { host: "r3", port: 6379 },
      ],
      options: { password: "p:w" },
    });
    expect(redisClusterTarget("rediss+cluster://u:pw@r1:6379/")).toEqual({ nodes: [{ host: "r1", port: 6379 }], options: { username: "u", password: "pw", tls: {} } });
    // A database or a path has no meaning on a Redis Cluster: refused, the password not repeated.
    expect(() => redisClusterTarget("redis+cluster://:secret@r1:6379/2")).toThrow(/redis\+cluster:\/\/\*\*\*@r1:6379\/2/);
  });
});
