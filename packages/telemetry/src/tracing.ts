import { context, INVALID_SPAN_CONTEXT, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span } from "@opentelemetry/api";

export { SpanKind, SpanStatusCode, type Span } from "@opentelemetry/api";

/** The tracer every Nimbus span comes from (a no-op until startTracing() registers a provider). */
export const tracer = trace.getTracer("nimbus");

/** Whether startTracing() registered a provider: until then spans record nothing, and the hot path makes none. */
let recording = false;

/** The span work gets when tracing is off: records nothing, costs nothing. */
export const NOT_RECORDING: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/** True when spans are recorded and exported (OTLP configured). */
export function tracingOn(): boolean {
  return recording;
}

/** Where a service's own spans go (its tracingConfig's endpoint), set by the app that knows services. */
let endpointOf: ((service: string) => string | undefined) | undefined;

/**
 * True when the calls of `service` are traced: everything is (OTLP configured for the platform), or
 * that service names an endpoint of its own in its tracingConfig (and startTracing installed the
 * provider that sends its spans there).
 */
export function tracingFor(service: string | undefined): boolean {
  return recording || (routing && service !== undefined && endpointOf?.(service) !== undefined);
}

/** Whether startTracing() installed the provider that routes spans to services' own endpoints. */
let routing = false;

/** Tells the tracing which endpoint a service's spans go to (undefined: none of its own). */
export function setServiceTraceEndpoints(lookup: (service: string) => string | undefined): void {
  endpointOf = lookup;
}

/**
 * Turns tracing on when the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set: spans are batched to that OTLP/HTTP endpoint, and
 * W3C trace context is propagated. When it is not set nothing is loaded and every span is a no-op.
 * Returns what to await on shutdown (flushes what is still buffered).
 */
export async function startTracing(serviceName: string, env: NodeJS.ProcessEnv = process.env): Promise<() => Promise<void>> {
  if (env["OTEL_SDK_DISABLED"] === "true") return async () => undefined;
  const everything = Boolean(env["OTEL_EXPORTER_OTLP_ENDPOINT"] || env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]);
  const [{ NodeTracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, { resourceFromAttributes }] = await Promise.all([
    import("@opentelemetry/sdk-trace-node"),
    import("@opentelemetry/exporter-trace-otlp-http"),
    import("@opentelemetry/resources"),
  ]);
  // Each service whose tracingConfig names an endpoint gets its own spans there too (one batching
  // exporter per endpoint, made when first needed); the platform's OTLP endpoint gets every span.
  const perEndpoint = new Map<string, InstanceType<typeof BatchSpanProcessor>>();
  const byService: SpanProcessorLike = {
    onStart: () => undefined,
    onEnd: (span) => {
      const service = span.attributes["nimbus.service"];
      const url = typeof service === "string" ? endpointOf?.(service) : undefined;
      if (!url) return;
      let processor = perEndpoint.get(url);
      if (!processor) perEndpoint.set(url, (processor = new BatchSpanProcessor(new OTLPTraceExporter({ url }), { scheduledDelayMillis: 1_000 })));
      processor.onEnd(span as never);
    },
    forceFlush: async () => void (await Promise.all([...perEndpoint.values()].map((p) => p.forceFlush()))),
    shutdown: async () => void (await Promise.all([...perEndpoint.values()].map((p) => p.shutdown()))),
  };
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ "service.name": env["OTEL_SERVICE_NAME"] ?? `nimbus-${serviceName}`, "service.namespace": "nimbus" }),
    spanProcessors: [byService as never, ...(everything ? [new BatchSpanProcessor(new OTLPTraceExporter(), { scheduledDelayMillis: 1_000 })] : [])],
  });
  provider.register();
  recording = everything;
  routing = true;
  return () => provider.shutdown();
}

/** What the provider asks of a span processor (the SDK's interface, loaded lazily). */
interface SpanProcessorLike {
  onStart(span: unknown, context: unknown): void;
  onEnd(span: { attributes: Attributes }): void;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

/** The context a `traceparent` header continues (the root context when there is none). */
export function contextFrom(traceparent: string | undefined): Context {
  return traceparent ? propagation.extract(ROOT_CONTEXT, { traceparent }) : ROOT_CONTEXT;
}

/**
 * The `traceparent` to send on from within `span`: the span's own when tracing is on, else the one
 * that came in (so a caller's trace still reaches the function when Nimbus records none).
 */
export function traceparentFor(span: Span, incoming: string | undefined): string | undefined {
  if (!span.isRecording()) return incoming;
  const carrier: Record<string, string> = {};
  propagation.inject(trace.setSpan(context.active(), span), carrier);
  return carrier["traceparent"] ?? incoming;
}

/**
 * Runs `work` in a span (a child of `traceparent`'s context, or of the active span), ending it —
 * with an error status when `work` throws — and returns what `work` returns.
 */
export async function inSpan<T>(
  name: string,
  options: { kind: SpanKind; attributes?: Attributes; traceparent?: string | undefined },
  work: (span: Span) => Promise<T>,
): Promise<T> {
  const service = options.attributes?.["nimbus.service"];
  if (!tracingFor(typeof service === "string" ? service : undefined)) return work(NOT_RECORDING);
  const parent = options.traceparent !== undefined ? contextFrom(options.traceparent) : context.active();
  return tracer.startActiveSpan(name, { kind: options.kind, ...(options.attributes ? { attributes: options.attributes } : {}) }, parent, async (span) => {
    try {
      return await work(span);
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      throw err;
    } finally {
      span.end();
    }
  });
}
