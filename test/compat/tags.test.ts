import { describe, expect, it } from "vitest";
import { useCluster } from "../helpers/cluster.js";
import { expectFcError, uniqueName } from "../helpers/fc.js";

const ctx = useCluster();


describe("tags through @alicloud/fc2", () => {
  it("tags, reads, untags some keys and all keys", async () => {
    const name = uniqueName("tagged");
    await ctx.fc.createService(name);
    const arn = `acs:fc:${ctx.cluster.credentials.region}:${ctx.cluster.credentials.accountId}:services/${name}`;
    const tagged = await ctx.fc.tagResource(arn, { env: "prod", team: "pay", empty: "" });
    expect(tagged.data).toEqual({});
    expect((await ctx.fc.getResourceTags({ resourceArn: arn })).data).toEqual({ resourceArn: arn, tags: { env: "prod", team: "pay", empty: "" } });

    await ctx.fc.tagResource(`services/${name}`, { env: "staging" });
    expect((await ctx.fc.getResourceTags({ resourceArn: `services/${name}` })).data.tags).toEqual({ env: "staging", team: "pay", empty: "" });

    await ctx.fc.untagResource(arn, ["team", "nope"]);
    expect((await ctx.fc.getResourceTags({ resourceArn: arn })).data.tags).toEqual({ env: "staging", empty: "" });
    await ctx.fc.untagResource(arn, [], true);
    expect((await ctx.fc.getResourceTags({ resourceArn: arn })).data.tags).toEqual({});
  });

  it("filters listServices by tags (an empty value matches any)", async () => {
    const p = uniqueName("tl");
    for (const [s, tags] of [["a", { k1: "v1", k3: "x" }], ["b", { k3: "y" }], ["c", { k1: "v2" }]] as const) {
      await ctx.fc.createService(`${p}_${s}`);
      await ctx.fc.tagResource(`services/${p}_${s}`, tags);
    }
    const names = async (tags: Record<string, string>) =>
      (await ctx.fc.listServices({ prefix: p, tags })).data.services.map((s: { serviceName: string }) => s.serviceName.slice(p.length + 1));
    expect(await names({ k3: "" })).toEqual(["a", "b"]);
    expect(await names({ k1: "v1", k3: "" })).toEqual(["a"]);
    expect(await names({ k1: "" })).toEqual(["a", "c"]);
    expect(await names({ k9: "" })).toEqual([]);
  });

  it("refuses bad ARNs, missing services, bad tags and more than 20", async () => {
    const name = uniqueName("tagbad");
    await ctx.fc.createService(name);
    await expectFcError(ctx.fc.tagResource("acs:fc:r:1:functions/x", { a: "b" }), "InvalidArgument");
    await expectFcError(ctx.fc.tagResource(`services/${uniqueName("none")}`, { a: "b" }), "ServiceNotFound");
    await expectFcError(ctx.fc.getResourceTags({ resourceArn: `services/${uniqueName("none")}` }), "ServiceNotFound");
    await expectFcError(ctx.fc.getResourceTags({}), "InvalidArgument");
    await expectFcError(ctx.fc.tagResource(`services/${name}`, { "acs:x": "b" }), "InvalidArgument");
    await expectFcError(ctx.fc.tagResource(`services/${name}`, {}), "InvalidArgument");
    await ctx.fc.tagResource(`services/${name}`, Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`a${i}`, "v"])));
    await expectFcError(ctx.fc.tagResource(`services/${name}`, Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`b${i}`, "v"]))), "InvalidArgument", "at most 20");
    await expectFcError(ctx.fc.untagResource(`services/${name}`, []), "InvalidArgument");
  });
});
