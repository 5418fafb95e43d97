import { beforeAll, describe, expect, it } from "vitest";
import { useCluster } from "../helpers/cluster.js";
import { expectFcError, uniqueName } from "../helpers/fc.js";
import { deploy } from "../helpers/functions.js";
import { send } from "../helpers/http.js";

const ctx = useCluster({ services: ["gateway", "invoker"], env: { NIMBUS_LOG_LEVEL: "warn" } });

/** An HTTP function that says who it is and what it received. */
const ECHO = (name: string) => `
exports.handler = (request, response, context) => {
  response.setHeader('content-type', 'application/json');
  response.send(JSON.stringify({ fn: '${name}', method: request.method, path: request.path, queries: request.queries, qualifier: context.service.qualifier }));
};`;

let svc: string;
const trigger = (authType = "anonymous", qualifier?: string) => ({
  triggerName: "http",
  triggerType: "http",
  ...(qualifier ? { qualifier } : {}),
  triggerConfig: { authType, methods: ["GET", "POST", "PUT"] },
});

beforeAll(async () => {
  svc = uniqueName("dom");
  for (const fn of ["users", "home", "deep"]) {
    await deploy(ctx.cluster, svc, fn, { "index.js": ECHO(fn) });
    await ctx.fc.createTrigger(svc, fn, trigger());
  }
  await deploy(ctx.cluster, svc, "secret", { "index.js": ECHO("secret") });
  await ctx.fc.createTrigger(svc, "secret", trigger("function"));
  await ctx.fc.publishVersion(svc);
  await ctx.fc.createAlias(svc, "live", "1");
  await ctx.fc.createTrigger(svc, "home", { ...trigger("anonymous", "live"), triggerName: "http-live" });
});

/** A request to the gateway as if sent to `host`. */
const at = (host: string, path: string, method = "GET", sign = false) => send(ctx.cluster, { method, path, headers: { host }, sign });

describe("custom domains through @alicloud/fc2", () => {
  it("manages domains with FC's shapes and errors", async () => {
    const domain = `${uniqueName("crud").replace("_", "-")}.example.com`;
    const routes = [
      { path: "/users/*", serviceName: svc, functionName: "users" },
      { path: "/", serviceName: svc, functionName: "home", qualifier: "live", methods: ["GET"] },
    ];
    const created = await ctx.fc.createCustomDomain(domain, { protocol: "HTTP", routeConfig: { routes } });
    expect(created.data).toEqual({
      domainName: domain,
      accountId: ctx.cluster.credentials.accountId,
      protocol: "HTTP",
      apiVersion: "2016-08-15",
      description: "",
      routeConfig: {
        routes: [
          { path: "/users/*", serviceName: svc, functionName: "users", qualifier: "LATEST", methods: [] },
          { path: "/", serviceName: svc, functionName: "home", qualifier: "live", methods: ["GET"] },
        ],
      },
      createdTime: expect.stringMatching(/Z$/),
      lastModifiedTime: expect.stringMatching(/Z$/),
    });
    expect((await ctx.fc.getCustomDomain(domain)).data).toEqual(created.data);
    expect((await ctx.fc.listCustomDomains({ prefix: domain })).data.customDomains).toEqual([created.data]);
    await expectFcError(ctx.fc.createCustomDomain(domain, { protocol: "HTTP" }), "DomainNameAlreadyExists");

    const updated = await ctx.fc.updateCustomDomain(domain, { routeConfig: { routes: [routes[0]] } });
    expect(updated.data.routeConfig.routes).toHaveLength(1);
    expect(updated.data.createdTime).toBe(created.data.createdTime);

    await ctx.fc.deleteCustomDomain(domain);
    await expectFcError(ctx.fc.getCustomDomain(domain), "DomainNameNotFound");
    await expectFcError(ctx.fc.deleteCustomDomain(domain), "DomainNameNotFound");
  });

  it("refuses domains and routes it cannot serve, writing nothing", async () => {
    const domain = `${uniqueName("bad").replace("_", "-")}.example.com`;
    const route = (extra: Record<string, unknown>) => ({ routeConfig: { routes: [{ path: "/*", serviceName: svc, functionName: "users", ...extra }] } });
    await expectFcError(ctx.fc.createCustomDomain(domain, route({ path: "no-slash" })), "InvalidArgument", "path");
    await expectFcError(ctx.fc.createCustomDomain(domain, { protocol: "HTTPS" }), "InvalidArgument", "HTTP");
    await expectFcError(ctx.fc.createCustomDomain(domain, { routeConfig: { routes: [{ path: "/a", serviceName: svc, functionName: "users" }, { path: "/a", serviceName: svc, functionName: "home" }] } }), "InvalidArgument", "twice");
    await expectFcError(ctx.fc.createCustomDomain("bad_domain!", {}), "InvalidArgument", "domain");
    await expectFcError(ctx.fc.createCustomDomain("127.0.0.1", {}), "InvalidArgument", "address");
    await expectFcError(ctx.fc.createCustomDomain("localhost", {}), "InvalidArgument", "address");
    await expectFcError(ctx.fc.getCustomDomain(domain), "DomainNameNotFound");

    await ctx.fc.createCustomDomain(domain, route({}));
    await expectFcError(ctx.fc.updateCustomDomain(domain, route({ path: "no-slash" })), "InvalidArgument", "path");
    expect((await ctx.fc.getCustomDomain(domain)).data.routeConfig.routes[0].path).toBe("/*");
    await ctx.fc.deleteCustomDomain(domain);
  });

  it("accepts routes to services, functions and qualifiers that do not exist yet, as FC does, and answers FC's not-found error for them until they do", async () => {
    const domain = `${uniqueName("later").replace("_", "-")}.example.com`;
    const later = uniqueName("latersvc");
    await ctx.fc.createCustomDomain(domain, {
      protocol: "HTTP",
      routeConfig: {
        routes: [
          { path: "/svc/*", serviceName: later, functionName: "fn" },
          { path: "/fn/*", serviceName: svc, functionName: "notyet" },
          { path: "/alias/*", serviceName: svc, functionName: "users", qualifier: "nope" },
          { path: "/version/*", serviceName: svc, functionName: "users", qualifier: "7" },
        ],
      },
    });
    for (const [path, code] of [["/svc/x", "ServiceNotFound"], ["/fn/x", "FunctionNotFound"], ["/alias/x", "AliasNotFound"], ["/version/x", "VersionNotFound"]] as const) {
      const res = await at(domain, path);
      expect(res.status, path).toBe(404);
      expect(res.json.ErrorCode, path).toBe(code);
      expect(res.headers["x-fc-request-id"], path).toBeTruthy();
    }
    // Once the function exists (with its HTTP trigger), the same route serves it.
    await deploy(ctx.cluster, later, "fn", { "index.js": ECHO("later") });
    await ctx.fc.createTrigger(later, "fn", trigger());
    expect((await at(domain, "/svc/x")).json).toMatchObject({ fn: "later", path: "/svc/x" });
    await ctx.fc.deleteCustomDomain(domain);
  });

  it("refuses every numeric form of an IP address, IPv6 literals and local names, writing nothing", async () => {
    const forms = ["0x7f000001", "2130706433", "127.1", "017700000001", "0x7f.0.0.1", "10.0.0.0x1", "192.168.0.1", "[::1]", "::ffff:127.0.0.1", "localhost"];
    for (const domain of forms) await expectFcError(ctx.fc.createCustomDomain(domain, { protocol: "HTTP" }), "InvalidArgument", "address");
    const listed = (await ctx.fc.listCustomDomains()).data.customDomains.map((d: { domainName: string }) => d.domainName);
    expect(listed.filter((d: string) => forms.includes(d))).toEqual([]);
    console.log(`custom domains: ${forms.length} address forms refused with 400 InvalidArgument`);
  });

  it("routes requests for the domain's host by exact path, else the longest /* prefix, like an HTTP trigger", async () => {
    const domain = `${uniqueName("route").replace("_", "-")}.example.com`;
    await ctx.fc.createCustomDomain(domain, {
      protocol: "HTTP",
      routeConfig: {
        routes: [
          { path: "/", serviceName: svc, functionName: "home", qualifier: "live", methods: ["GET"] },
          { path: "/users/*", serviceName: svc, functionName: "users" },
          { path: "/users/admin/*", serviceName: svc, functionName: "deep" },
          { path: "/private/*", serviceName: svc, functionName: "secret" },
        ],
      },
    });
    const users = await at(domain, "/users/42?expand=true&x=1");
    expect(users.status).toBe(200);
    expect(users.json).toEqual({ fn: "users", method: "GET", path: "/users/42", queries: { expand: "true", x: "1" }, qualifier: "LATEST" });
    expect((await at(`${domain.toUpperCase()}:8080`, "/users")).json).toMatchObject({ fn: "users", path: "/users" });
    expect((await at(domain, "/users/admin/panel", "POST")).json).toMatchObject({ fn: "deep", method: "POST", path: "/users/admin/panel" });
    expect((await at(domain, "/")).json).toMatchObject({ fn: "home", qualifier: "live" });

    const unrouted = await at(domain, "/nothing/here");
    expect(unrouted.status).toBe(404);
    expect(unrouted.json.ErrorCode).toBe("ResourceNotFound");
    expect(unrouted.headers["x-fc-request-id"]).toBeTruthy();
    const wrongMethod = await at(domain, "/", "POST");
    expect(wrongMethod.status).toBe(405);

    // A function whose trigger requires FC's signature requires it through the domain too.
    expect((await at(domain, "/private/x")).json.ErrorCode).toBe("MissingRequiredHeader");
    const signed = await at(domain, "/private/x", "GET", true);
    expect(signed.status).toBe(200);
    expect(signed.json).toMatchObject({ fn: "secret", path: "/private/x" });

    // The API is untouched for every other host, and the internal route is not reachable directly.
    expect((await send(ctx.cluster, { method: "GET", path: `/2016-08-15/services/${svc}` })).status).toBe(200);
    expect((await send(ctx.cluster, { method: "GET", path: "/2016-08-15/_custom-domain/users/1", sign: false })).status).toBe(400);

    // Routes change with the domain.
    await ctx.fc.updateCustomDomain(domain, { routeConfig: { routes: [{ path: "/*", serviceName: svc, functionName: "deep" }] } });
    expect((await at(domain, "/users/42")).json).toMatchObject({ fn: "deep" });
    await ctx.fc.deleteCustomDomain(domain);
    // Without its domain the host is just the API again: an unsigned request is refused as such.
    const gone = await at(domain, "/users/42");
    expect(gone.json.ErrorCode).toBe("MissingRequiredHeader");
  });
});
