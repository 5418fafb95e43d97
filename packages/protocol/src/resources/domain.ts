import { z } from "zod";
import { Limits } from "../limits.js";
import { NAME_PATTERN, QUALIFIER_PATTERN } from "../names.js";

/** A DNS host name, lowercase (what a Host header names), at most 255 characters. */
export const DOMAIN_NAME_PATTERN = /^(?=.{1,255}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$/;

/**
 * True for names that are not DNS names of their own: IPv6 literals, `localhost` and its subdomains,
 * and every host a URL parser reads as an IPv4 address. WHATWG's URL standard makes a host IPv4 when
 * its last label is a number, decimal or `0x` hex (`127.1`, `2130706433`, `0x7f000001`,
 * `017700000001`, `10.0.0.0x1`), so those are refused whatever comes before.
 */
export function isAddressOrLocalName(domain: string): boolean {
  const host = domain.toLowerCase();
  if (host.includes(":") || host.startsWith("[")) return true;
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  const labels = host.split(".");
  if (labels.length > 1 && labels[labels.length - 1] === "") labels.pop();
  const last = labels[labels.length - 1] ?? "";
  return /^[0-9]+$/.test(last) || /^0x[0-9a-f]*$/.test(last);
}

const METHODS = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"] as const;

/** A route path: `/`, `/a/b`, or a prefix ending in `/*`. */
const ROUTE_PATH = /^\/(?:[A-Za-z0-9._~!$&'()+,;=:@%-]+\/)*(?:[A-Za-z0-9._~!$&'()+,;=:@%-]+|\*)?$/;

export const Route = z.object({
  path: z.string({ error: "is required" }).max(1024).regex(ROUTE_PATH, { error: "must start with '/' and may end with '/*'" }),
  serviceName: z.string({ error: "is required" }).regex(NAME_PATTERN, { error: "is not a valid service name" }),
  functionName: z.string({ error: "is required" }).regex(NAME_PATTERN, { error: "is not a valid function name" }),
  qualifier: z.string().regex(QUALIFIER_PATTERN, { error: "is not a valid qualifier" }).optional(),
  methods: z.array(z.enum(METHODS, { error: `methods are ${METHODS.join(", ")}` })).max(METHODS.length).optional(),
});
export type Route = z.output<typeof Route>;

const RouteConfig = z.object({ routes: z.array(Route).max(100, { error: "at most 100 routes" }) });

const looseObject = () => z.record(z.string(), z.unknown());

const DomainSpec = z.object({
  protocol: z.enum(["HTTP"], { error: "only HTTP is served by Nimbus (terminate TLS in front of it)" }).optional(),
  apiVersion: z.literal("2016-08-15").optional(),
  routeConfig: RouteConfig.optional(),
  description: z.string().max(Limits.descriptionChars).optional(),
  // Accepted and stored for FC tooling; Nimbus serves HTTP only.
  certConfig: looseObject().optional(),
  tlsConfig: looseObject().optional(),
  wafConfig: looseObject().optional(),
});

/** Body of `POST /custom-domains`. */
export const CreateCustomDomainBody = DomainSpec.extend({
  domainName: z
    .string({ error: "is required" })
    .transform((d) => d.toLowerCase())
    .refine((d) => !isAddressOrLocalName(d), { error: "is an IP address or a local name; a custom domain is a DNS name" })
    .refine((d) => DOMAIN_NAME_PATTERN.test(d), { error: "is not a valid domain name" }),
});
export type CreateCustomDomainBody = z.output<typeof CreateCustomDomainBody>;

/** Body of `PUT /custom-domains/{domain}`: only the fields sent change. */
export const UpdateCustomDomainBody = DomainSpec;
export type UpdateCustomDomainBody = z.output<typeof UpdateCustomDomainBody>;

/** A custom domain as stored in KV (key: the domain name). */
export const CustomDomainRecord = z.object({
  domainName: z.string(),
  protocol: z.string(),
  apiVersion: z.string(),
  description: z.string(),
  routeConfig: RouteConfig,
  certConfig: looseObject().optional(),
  tlsConfig: looseObject().optional(),
  wafConfig: looseObject().optional(),
  createdTime: z.string(),
  lastModifiedTime: z.string(),
});
export type CustomDomainRecord = z.output<typeof CustomDomainRecord>;

export function customDomainView(record: CustomDomainRecord, accountId: string) {
  return {
    domainName: record.domainName,
    accountId,
    protocol: record.protocol,
    apiVersion: record.apiVersion,
    description: record.description,
    routeConfig: { routes: record.routeConfig.routes.map((r) => ({ ...r, qualifier: r.qualifier ?? "LATEST", methods: r.methods ?? [] })) },
    ...(record.certConfig ? { certConfig: record.certConfig } : {}),
    ...(record.tlsConfig ? { tlsConfig: record.tlsConfig } : {}),
    ...(record.wafConfig ? { wafConfig: record.wafConfig } : {}),
    createdTime: record.createdTime,
    lastModifiedTime: record.lastModifiedTime,
  };
}

/**
 * The route a request path takes: an exact route wins, else the longest `/*` prefix that matches
 * (FC's rule). Undefined when none does.
 */
export function matchRoute(routes: readonly Route[], path: string): { route: Route; rest: string } | undefined {
  let best: { route: Route; rest: string; length: number } | undefined;
  for (const route of routes) {
    if (route.path.endsWith("/*")) {
      const prefix = route.path.slice(0, -1); // keeps the trailing '/'
      const bare = prefix.slice(0, -1);
      if (path === bare || path.startsWith(prefix)) {
        if (!best || prefix.length > best.length) best = { route, rest: path, length: prefix.length };
      }
    } else if (route.path === path) {
      return { route, rest: path };
    }
  }
  return best ? { route: best.route, rest: best.rest } : undefined;
}
