import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster } from "@nimbus/testkit";
import { expectFcError, fcClient, uniqueName } from "../helpers/fc.js";
import type FC from "@alicloud/fc2";

let cluster: TestCluster;
let fc: FC;

beforeAll(async () => {
  cluster = await TestCluster.start();
  fc = fcClient(cluster);
});
afterAll(async () => {
  await cluster?.stop();
});

describe("tags through @alicloud/fc2", () => {
  it("tags, reads, untags some keys and all keys", async () => {
    const name = uniqueName("tagged");
    await fc.createService(name);
    const arn = `acs:fc:${cluster.credentials.region}:${cluster.credentials.accountId}:services/${name}`;
    const tagged = await fc.tagResource(arn, { env: "prod", team: "pay", empty: "" });
    expect(tagged.data).toEqual({});
    expect((await fc.getResourceTags({ resourceArn: arn })).data).toEqual({ resourceArn: arn, tags: { env: "prod", team: "pay", empty: "" } });

    await fc.tagResource(`services/${name}`, { env: "staging" });
    expect((await fc.getResourceTags({ resourceArn: `services/${name}` })).data.tags).toEqual({ env: "staging", team: "pay", empty: "" });

    await fc.untagResource(arn, ["team", "nope"]);
    expect((await fc.getResourceTags({ resourceArn: arn })).data.tags).toEqual({ env: "staging", empty: "" });
    await fc.untagResource(arn, [], true);
    expect((await fc.getResourceTags({ resourceArn: arn })).data.tags).toEqual({});
  });

  it("filters listServices by tags (an empty value matches any)", async () => {
    const p = uniqueName("tl");
    for (const [s, tags] of [["a", { k1: "v1", k3: "x" }], ["b", { k3: "y" }], ["c", { k1: "v2" }]] as const) {
      await fc.createService(`${p}_${s}`);
      await fc.tagResource(`services/${p}_${s}`, tags);
    }
    const names = async (tags: Record<string, string>) =>
      (await fc.listServices({ prefix: p, tags })).data.services.map((s: { serviceName: string }) => s.serviceName.slice(p.length + 1));
    expect(await names({ k3: "" })).toEqual(["a", "b"]);
    expect(await names({ k1: "v1", k3: "" })).toEqual(["a"]);
    expect(await names({ k1: "" })).toEqual(["a", "c"]);
    expect(await names({ k9: "" })).toEqual([]);
  });

  it("refuses bad ARNs, missing services, bad tags and more than 20", async () => {
    const name = uniqueName("tagbad");
    await fc.createService(name);
    await expectFcError(fc.tagResource("acs:fc:r:1:functions/x", { a: "b" }), "InvalidArgument");
    await expectFcError(fc.tagResource(`services/${uniqueName("none")}`, { a: "b" }), "ServiceNotFound");
    await expectFcError(fc.getResourceTags({ resourceArn: `services/${uniqueName("none")}` }), "ServiceNotFound");
    await expectFcError(fc.getResourceTags({}), "InvalidArgument");
    await expectFcError(fc.tagResource(`services/${name}`, { "acs:x": "b" }), "InvalidArgument");
    await expectFcError(fc.tagResource(`services/${name}`, {}), "InvalidArgument");
    await fc.tagResource(`services/${name}`, Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`a${i}`, "v"])));
    await expectFcError(fc.tagResource(`services/${name}`, Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`b${i}`, "v"]))), "InvalidArgument", "at most 20");
    await expectFcError(fc.untagResource(`services/${name}`, []), "InvalidArgument");
  });
});
