/**
 * One error type for the whole platform. Errors cross process boundaries as data
 * (`code` + `message` + `retryable`), never through `instanceof`; only the gateway maps
 * codes to HTTP statuses, using the table below (Function Compute 2.0's codes where FC has one).
 */

/** Every error code Nimbus emits, with the HTTP status the gateway answers it with. */
export const ERROR_STATUS = {
  InvalidArgument: 400,
  MissingRequiredHeader: 400,
  PathNotSupported: 400,
  OperationNotSupported: 400,
  LimitExceeded: 400,
  EntityTooLarge: 413,
  AccessDenied: 403,
  SignatureNotMatch: 403,
  InvalidAccessKeyID: 403,
  RequestTimeTooSkewed: 403,
  ServiceNotFound: 404,
  FunctionNotFound: 404,
  VersionNotFound: 404,
  AliasNotFound: 404,
  TriggerNotFound: 404,
  OnDemandConfigNotFound: 404,
  AsyncConfigNotExists: 404,
  StatefulAsyncInvocationNotExists: 404,
  LayerNotFound: 404,
  ResourceNotFound: 404,
  CodeNotFound: 404,
  ProvisionConfigNotFound: 404,
  DomainNameNotFound: 404,
  VersionPublishError: 400,
  AdditionalVersionContainsMajorVersion: 400,
  ServiceAlreadyExists: 409,
  AliasAlreadyExists: 409,
  DomainNameAlreadyExists: 409,
  FunctionAlreadyExists: 409,
  TriggerAlreadyExists: 409,
  FunctionNotEmpty: 409,
  StatefulAsyncInvocationAlreadyExists: 409,
  ConcurrentUpdateError: 409,
  ServiceNotEmpty: 409,
  PreconditionFailed: 412,
  MethodNotAllowed: 405,
  RequestTimeout: 408,
  ResourceExhausted: 429,
  InternalServerError: 500,
  ServiceUnavailable: 503,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** The JSON body FC returns for every failed request. */
export interface FcErrorBody {
  ErrorCode: string;
  ErrorMessage: string;
}

/** What an error looks like on the wire between Nimbus processes. */
export interface WireError {
  code: string;
  message: string;
  retryable?: boolean;
}

const RETRYABLE_BY_DEFAULT: ReadonlySet<string> = new Set([
  "ResourceExhausted",
  "InternalServerError",
  "ServiceUnavailable",
  "ConcurrentUpdateError",
]);

/** A platform error with a stable code, an HTTP status and a retryable flag. */
export class NimbusError extends Error {
  override readonly name = "NimbusError";
  readonly code: string;
  readonly retryable: boolean;

  constructor(code: ErrorCode | string, message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options?.retryable ?? RETRYABLE_BY_DEFAULT.has(code);
  }

  /** HTTP status for this error's code (500 for a code the table does not know). */
  get status(): number {
    return statusOf(this.code);
  }

  toWire(): WireError {
    return { code: this.code, message: this.message, retryable: this.retryable };
  }

  toFcBody(): FcErrorBody {
    return { ErrorCode: this.code, ErrorMessage: this.message };
  }

  /** Rebuilds an error received from another process. */
  static fromWire(wire: WireError): NimbusError {
    return new NimbusError(wire.code, wire.message, { retryable: wire.retryable ?? RETRYABLE_BY_DEFAULT.has(wire.code) });
  }
}

/** HTTP status for an error code. */
export function statusOf(code: string): number {
  return (ERROR_STATUS as Record<string, number>)[code] ?? 500;
}

/** True for any NimbusError-shaped value, whichever copy of this module created it. */
export function isNimbusError(value: unknown): value is NimbusError {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as { name?: unknown }).name === "NimbusError" &&
    typeof (value as { code?: unknown }).code === "string"
  );
}

/** Constructors for the errors whose messages FC fixes; one place for every message template. */
export const errors = {
  invalidArgument: (message: string) => new NimbusError("InvalidArgument", message),
  missingHeader: (header: string) =>
    new NimbusError("MissingRequiredHeader", `required HTTP header ${header} was not specified`),
  /** An FC operation that has no meaning outside Alibaba Cloud: what to do instead. */
  operationNotSupported: (operation: string, instead: string) => new NimbusError("OperationNotSupported", `${operation} is not supported by Nimbus: ${instead}`),
  httpFunctionInvoked: (fn: string, urls: string[]) =>
    new NimbusError("InvalidArgument", `function '${fn}' is an HTTP function (it has an HTTP trigger): call it through its trigger, ${urls.join(" or ")}; InvokeFunction calls event functions`),
  pathNotSupported: (method: string, path: string) =>
    new NimbusError("PathNotSupported", `'${method}' against '${path}' is not supported`),
  entityTooLarge: (limitBytes: number) =>
    new NimbusError("EntityTooLarge", `payload size exceeds maximum allowed size (${limitBytes} bytes)`),
  invalidAccessKeyId: (id: string) => new NimbusError("InvalidAccessKeyID", `invalid access key ID '${id}'`),
  signatureNotMatch: () =>
    new NimbusError(
      "SignatureNotMatch",
      "The request signature we calculated does not match the signature you provided. Check your access key and signing method.",
    ),
  accessDenied: (message: string) => new NimbusError("AccessDenied", message),
  timeTooSkewed: (maxSkewSeconds: number) =>
    new NimbusError(
      "RequestTimeTooSkewed",
      `the difference between the request time and the server's time is too large (more than ${maxSkewSeconds} seconds)`,
    ),
  serviceNotFound: (service: string) => new NimbusError("ServiceNotFound", `service '${service}' does not exist`),
  functionNotFound: (service: string, fn: string) =>
    new NimbusError("FunctionNotFound", `function '${fn}' does not exist in service '${service}'`),
  versionNotFound: (service: string, version: string) =>
    new NimbusError("VersionNotFound", `version '${version}' of service '${service}' does not exist`),
  aliasNotFound: (service: string, alias: string) =>
    new NimbusError("AliasNotFound", `alias '${alias}' of service '${service}' does not exist`),
  aliasExists: (service: string, alias: string) => new NimbusError("AliasAlreadyExists", `alias '${alias}' of service '${service}' already exists`),
  layerNotFound: (layer: string, version?: number | string) =>
    new NimbusError("LayerNotFound", version === undefined ? `layer '${layer}' does not exist` : `version ${version} of layer '${layer}' does not exist`),
  domainNotFound: (domain: string) => new NimbusError("DomainNameNotFound", `domain name '${domain}' does not exist`),
  domainExists: (domain: string) => new NimbusError("DomainNameAlreadyExists", `domain name '${domain}' already exists`),
  noChangeToPublish: (service: string) =>
    new NimbusError("VersionPublishError", `can not publish version for service '${service}', detail: 'No changes were made since last publish'`),
  serviceExists: (service: string) => new NimbusError("ServiceAlreadyExists", `service '${service}' already exists`),
  functionExists: (service: string, fn: string) =>
    new NimbusError("FunctionAlreadyExists", `function '${fn}' already exists in service '${service}'`),
  serviceNotEmpty: (service: string, what = "functions") =>
    new NimbusError("ServiceNotEmpty", `service '${service}' has active '${what}'`),
  triggerNotFound: (service: string, fn: string, trigger: string) =>
    new NimbusError("TriggerNotFound", `trigger '${trigger}' does not exist in service '${service}' and function '${fn}'`),
  triggerExists: (service: string, fn: string, trigger: string) =>
    new NimbusError("TriggerAlreadyExists", `trigger '${trigger}' already exists in service '${service}' and function '${fn}'`),
  functionNotEmpty: (fn: string) => new NimbusError("FunctionNotEmpty", `function '${fn}' has active triggers`),
  onDemandConfigNotFound: (resource: string) => new NimbusError("OnDemandConfigNotFound", `on-demand config for '${resource}' does not exist`),
  asyncBacklogFull: (service: string, fn: string, max: number) =>
    new NimbusError("ResourceExhausted", `the async queue of ${service}/${fn} already holds ${max} invocations waiting to run (the limit); retry later`),
  throttled: (service: string, fn: string, max: number) =>
    new NimbusError(
      "ResourceExhausted",
      `function '${fn}' of service '${service}' is at its limit of ${max} instances and none became free in time; retry later`,
    ),
  asyncConfigNotFound: (service: string, fn: string, qualifier: string) =>
    new NimbusError("AsyncConfigNotExists", `AsyncConfig for ${service}.${qualifier}:${fn} does not exist.`),
  invocationNotFound: (id: string) => new NimbusError("StatefulAsyncInvocationNotExists", `stateful async invocation '${id}' does not exist`),
  invocationExists: (id: string) => new NimbusError("StatefulAsyncInvocationAlreadyExists", `stateful async invocation '${id}' already exists`),
  noInvoker: () => new NimbusError("ServiceUnavailable", "no invoker node is running to execute the function"),
  codeNotFound: () => new NimbusError("CodeNotFound", "the code package does not exist"),
  noCodePackage: (fn: string, image: string) =>
    new NimbusError("CodeNotFound", `function '${fn}' runs the image '${image}' (runtime custom-container) and has no code package`),
  preconditionFailed: () => new NimbusError("PreconditionFailed", "the resource being modified has been changed"),
  concurrentUpdate: (what: string) =>
    new NimbusError("ConcurrentUpdateError", `${what} was modified concurrently, please retry`),
  internal: (message = "an internal error has occurred. Please retry.", cause?: unknown) =>
    new NimbusError("InternalServerError", message, { cause }),
  unavailable: (message: string, cause?: unknown) => new NimbusError("ServiceUnavailable", message, { cause }),
} as const;
