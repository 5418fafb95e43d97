import type { FastifyInstance, FastifyRequest } from "fastify";
import {
  assertName,
  CreateFunctionBody,
  functionView,
  hasCodePackage,
  Headers,
  isPythonRuntime,
  errors,
  parseOrThrow,
  parseQualifiedService,
  UpdateFunctionBody,
  type AccelerationStatus,
  type FunctionRecord,
} from "@nimbus/protocol";
import type { GatewayContext } from "../context.js";
import { codeUrl } from "../code/routes.js";
import { baseUrl } from "../http/base-url.js";
import { jsonBody } from "../http/body.js";
import { checkIfMatch, etagOf, hasIfMatch } from "../http/etag.js";
import { ListQuery, paginate } from "../http/listing.js";
import type { FunctionCatalog } from "./catalog.js";
import type { InterpreterView } from "./interpreters.js";

interface ServiceParams {
  serviceName: string;
}
interface FunctionParams extends ServiceParams {
  functionName: string;
}

/** The optional `x-fc-code-checksum` a client sends to have the upload verified. */
function expectedChecksum(req: FastifyRequest): string | undefined {
  const value = req.headers[Headers.codeChecksum];
  return typeof value === "string" && value.length > 0 ? value : undefined;
}

/** What the invoker nodes say about functions: whether an image's digest is on one yet (accelerationInfo.status), what runs Python. */
export interface FunctionStatus {
  acceleration: (digest: string) => AccelerationStatus;
  interpreters: (runtime: string) => InterpreterView[];
}

/** FC 2.0 function API: `/2016-08-15/services/{svc}/functions[/{fn}[/code]]`. */
export function functionRoutes(
  app: FastifyInstance,
  ctx: GatewayContext,
  catalog: FunctionCatalog,
  codeBodyLimit: number,
  status: FunctionStatus,
): void {
  const base = "/2016-08-15/services/:serviceName/functions";
  const view = (record: FunctionRecord) => functionView(record, status.acceleration);

  app.post<{ Params: ServiceParams }>(base, { bodyLimit: codeBodyLimit }, async (req, reply) => {
    const service = assertName("service", req.params.serviceName);
    const body = jsonBody(req, CreateFunctionBody);
    const record = await catalog.create(service, body, expectedChecksum(req));
    return reply.header(Headers.etag, etagOf(record)).send(view(record));
  });

  app.get<{ Params: ServiceParams }>(base, async (req) => {
    const { service, qualifier } = parseQualifiedService(req.params.serviceName);
    const query = parseOrThrow(ListQuery, req.query);
    const { page, nextToken } = paginate(catalog.list(service, qualifier), (f) => f.functionName, query);
    return { functions: page.map(view), ...(nextToken ? { nextToken } : {}) };
  });

  app.get<{ Params: FunctionParams }>(`${base}/:functionName`, async (req, reply) => {
    const { service, qualifier } = parseQualifiedService(req.params.serviceName);
    const record = catalog.getQualified(service, qualifier, assertName("function", req.params.functionName));
    // Beyond FC: which interpreter a Python function runs on, node by node.
    const interpreters = isPythonRuntime(record.runtime) ? { interpreters: status.interpreters(record.runtime) } : {};
    return reply.header(Headers.etag, etagOf(record)).send({ ...view(record), ...interpreters });
  });

  app.get<{ Params: FunctionParams }>(`${base}/:functionName/code`, async (req) => {
    const { service, qualifier } = parseQualifiedService(req.params.serviceName);
    const record = catalog.getQualified(service, qualifier, assertName("function", req.params.functionName));
    if (!hasCodePackage(record)) throw errors.noCodePackage(record.functionName, record.customContainerConfig?.image ?? "");
    return { url: codeUrl(ctx, baseUrl(req), record.codeSha256), checksum: record.codeChecksum };
  });

  app.put<{ Params: FunctionParams }>(`${base}/:functionName`, { bodyLimit: codeBodyLimit }, async (req, reply) => {
    const service = assertName("service", req.params.serviceName);
    const fn = assertName("function", req.params.functionName);
    const body = jsonBody(req, UpdateFunctionBody);
    const guard = { check: (current: unknown) => checkIfMatch(req, current), strict: hasIfMatch(req) };
    const record = await catalog.update(service, fn, body, guard, expectedChecksum(req));
    return reply.header(Headers.etag, etagOf(record)).send(view(record));
  });

  app.delete<{ Params: FunctionParams }>(`${base}/:functionName`, async (req, reply) => {
    const service = assertName("service", req.params.serviceName);
    const fn = assertName("function", req.params.functionName);
    await catalog.delete(service, fn, { check: (current) => checkIfMatch(req, current), strict: hasIfMatch(req) });
    return reply.status(204).send();
  });
}
