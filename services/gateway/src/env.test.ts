import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { GatewayEnvSchema } from "./env.js";

const required = { NIMBUS_ACCESS_KEY_ID: "LTAItest", NIMBUS_ACCESS_KEY_SECRET: "secret-secret" };
const parse = (extra: Record<string, string>) => GatewayEnvSchema.safeParse({ ...required, ...extra });

describe("the gateway's registry settings", () => {
  it("default to no credentials, no insecure registries and 30 s per registry operation", () => {
    const env = GatewayEnvSchema.parse(required);
    expect(env.NIMBUS_REGISTRY_AUTH).toBeUndefined();
    expect(env.NIMBUS_INSECURE_REGISTRIES).toEqual([]);
    expect(env.NIMBUS_REGISTRY_TIMEOUT_MS).toBe(30_000);
  });

  it("read insecure registries as a comma-separated list of host[:port]", () => {
    const env = parse({ NIMBUS_INSECURE_REGISTRIES: " registry.lan:5000, 10.0.0.5 ,[::1]:5000,," });
    expect(env.success && env.data.NIMBUS_INSECURE_REGISTRIES).toEqual(["registry.lan:5000", "10.0.0.5", "[::1]:5000"]);
    for (const bad of ["http://registry.lan", "registry.lan/path", "reg lan"]) {
      const result = parse({ NIMBUS_INSECURE_REGISTRIES: bad });
      expect(result.success).toBe(false);
      expect(result.error?.issues[0]?.path[0]).toBe("NIMBUS_INSECURE_REGISTRIES");
    }
  });

  it("refuse an auth file that cannot be read, naming the variable", () => {
    const result = parse({ NIMBUS_REGISTRY_AUTH: "/nonexistent/auth.json" });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]).toMatchObject({ path: ["NIMBUS_REGISTRY_AUTH"], message: expect.stringContaining("no readable file") });
    expect(parse({ NIMBUS_REGISTRY_AUTH: fileURLToPath(import.meta.url) }).success).toBe(true);
  });

  it("bound the registry timeout", () => {
    expect(parse({ NIMBUS_REGISTRY_TIMEOUT_MS: "50" }).success).toBe(false);
    expect(parse({ NIMBUS_REGISTRY_TIMEOUT_MS: "5000" }).data?.NIMBUS_REGISTRY_TIMEOUT_MS).toBe(5000);
  });
});
