import {
  errors,
  fcTimestamp,
  matchRoute,
  type CreateCustomDomainBody,
  type CustomDomainRecord,
  type Route,
  type UpdateCustomDomainBody,
} from "@nimbus/protocol";
import { CAS_ATTEMPTS, type GatewayContext, type WriteGuard } from "../context.js";

/**
 * Custom domains: a request whose Host names one is routed by its path (exact match, else the
 * longest `/*` prefix) to a function's HTTP handler, as its HTTP trigger would be. A route may name
 * a function that does not exist yet, as on FC: the request answers the not-found error then.
 */
export class CustomDomainCatalog {
  constructor(private readonly ctx: GatewayContext) {}

  get(domain: string): CustomDomainRecord {
    const found = this.ctx.mirrors.customDomains.get(this.ctx.naming.kvKeys.customDomain(domain));
    if (!found) throw errors.domainNotFound(domain);
    return found.value;
  }

  /** True when requests for this host are served by a custom domain. */
  has(host: string): boolean {
    return this.ctx.mirrors.customDomains.get(this.ctx.naming.kvKeys.customDomain(host)) !== undefined;
  }

  list(): CustomDomainRecord[] {
    return [...this.ctx.mirrors.customDomains.values()].map((v) => v.value);
  }

  /** The route a request for `host` and `path` takes, if any. */
  route(host: string, path: string): Route | undefined {
    const found = this.ctx.mirrors.customDomains.get(this.ctx.naming.kvKeys.customDomain(host));
    return found ? matchRoute(found.value.routeConfig.routes, path)?.route : undefined;
  }

  async create(body: CreateCustomDomainBody): Promise<CustomDomainRecord> {
    this.checkName(body.domainName);
    const routes = body.routeConfig?.routes ?? [];
    this.checkRoutes(routes);
    const now = fcTimestamp();
    const record: CustomDomainRecord = {
      domainName: body.domainName,
      protocol: body.protocol ?? "HTTP",
      apiVersion: body.apiVersion ?? "2016-08-15",
      description: body.description ?? "",
      routeConfig: { routes },
      ...(body.certConfig ? { certConfig: body.certConfig } : {}),
      ...(body.tlsConfig ? { tlsConfig: body.tlsConfig } : {}),
      ...(body.wafConfig ? { wafConfig: body.wafConfig } : {}),
      createdTime: now,
      lastModifiedTime: now,
    };
    if ((await this.ctx.store.customDomains.create(this.ctx.naming.kvKeys.customDomain(body.domainName), record)) === "exists") {
      throw errors.domainExists(body.domainName);
    }
    return record;
  }

  async update(domain: string, body: UpdateCustomDomainBody, guard: WriteGuard<CustomDomainRecord> = {}): Promise<CustomDomainRecord> {
    const key = this.ctx.naming.kvKeys.customDomain(domain);
    if (body.routeConfig) this.checkRoutes(body.routeConfig.routes);
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const current = await this.ctx.store.customDomains.get(key);
      if (!current) throw errors.domainNotFound(domain);
      guard.check?.(current.value);
      const next: CustomDomainRecord = {
        ...current.value,
        ...(body.protocol ? { protocol: body.protocol } : {}),
        ...(body.description === undefined ? {} : { description: body.description }),
        ...(body.routeConfig ? { routeConfig: body.routeConfig } : {}),
        ...(body.certConfig ? { certConfig: body.certConfig } : {}),
        ...(body.tlsConfig ? { tlsConfig: body.tlsConfig } : {}),
        ...(body.wafConfig ? { wafConfig: body.wafConfig } : {}),
        lastModifiedTime: fcTimestamp(),
      };
      if ((await this.ctx.store.customDomains.update(key, next, current.revision)) !== "conflict") return next;
      if (guard.strict) throw errors.preconditionFailed();
    }
    throw errors.concurrentUpdate(`custom domain '${domain}'`);
  }

  async delete(domain: string): Promise<void> {
    const key = this.ctx.naming.kvKeys.customDomain(domain);
    if (!(await this.ctx.store.customDomains.get(key))) throw errors.domainNotFound(domain);
    await this.ctx.store.customDomains.delete(key);
  }

  /** A domain must not be the API's own host (addresses and local names are refused by the schema). */
  private checkName(domain: string): void {
    const api = this.ctx.env.NIMBUS_PUBLIC_URL ? new URL(this.ctx.env.NIMBUS_PUBLIC_URL).hostname.toLowerCase() : undefined;
    if (api && api === domain) throw errors.invalidArgument(`domain name '${domain}' is the API's own host`);
  }

  /**
   * No two routes share a path. As on FC, a route may name a service, function or qualifier that
   * does not exist (yet): a request on it answers FC's not-found error for what is missing.
   */
  private checkRoutes(routes: readonly Route[]): void {
    const paths = new Set<string>();
    for (const route of routes) {
      if (paths.has(route.path)) throw errors.invalidArgument(`routeConfig: the path '${route.path}' is routed twice`);
      paths.add(route.path);
    }
  }
}
