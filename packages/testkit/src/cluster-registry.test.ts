import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster } from "./cluster.js";
import { TestImages } from "./test-images.js";

// A cluster whose registry wants bearer tokens (`registry: { auth: "token" }`): the services get
// only the auth file (NIMBUS_REGISTRY_AUTH), and the gateway (resolving the tag at create time) and
// the invoker (pulling at the first call) each go through the token flow with skopeo.
let cluster: TestCluster;
beforeAll(async () => {
  cluster = await TestCluster.start({ services: ["gateway", "invoker"], registry: { auth: "token" }, env: { NIMBUS_LOG_LEVEL: "warn" } });
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
});

describe("TestCluster with a token-auth registry", () => {
  it("creates and invokes a custom-container function whose image is behind bearer tokens", async () => {
    const registry = cluster.registry!;
    const tokens = registry.tokenServer!;
    expect(cluster.env()["NIMBUS_REGISTRY_AUTH"]).toBeDefined();
    const images = await TestImages.open(join(cluster.dir, "test-images"));
    const pushed = await images.push(await images.node(), { registry, repository: "apps/node", tag: "v1" });

    const client = cluster.client();
    await client.createService("tokens");
    const before = tokens.requests.length;
    await client.createFunction("tokens", { functionName: "node", runtime: "custom-container", timeout: 10, customContainerConfig: { image: pushed.reference, accelerationType: "None" } });
    const resolving = tokens.requests.length - before;
    const res = await client.invokeFunction("tokens", "node", "through a token");
    expect(res.headers.get("x-fc-error-type")).toBeNull();
    expect(JSON.parse(res.data.toString())).toMatchObject({ image: "node", body: "through a token" });

    const seen = tokens.requests.slice(before);
    console.log(`token requests: ${resolving} while the gateway resolved the tag, ${seen.length - resolving} more while the invoker pulled`);
    expect(resolving).toBeGreaterThan(0);
    expect(seen.length).toBeGreaterThan(resolving);
    for (const r of seen) expect(r).toEqual({ user: "nimbus", status: 200, scopes: ["repository:apps/node:pull"], access: [{ type: "repository", name: "apps/node", actions: ["pull"] }] });
  });
});
