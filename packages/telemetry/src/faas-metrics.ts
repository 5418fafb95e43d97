import { Counter, Histogram, type Registry } from "prom-client";

/** OpenTelemetry's bucket advice for `faas.invoke_duration` and `faas.init_duration` (seconds). */
export const FAAS_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

/** The labels every FaaS series carries: bounded by what is deployed, never per request. */
const LABELS = ["service", "function", "qualifier", "trigger"] as const;

export type FaasLabels = Record<(typeof LABELS)[number], string>;

/** Invocation counters and histograms, as an invoker records them. */
export function createFaasMetrics(registry: Registry) {
  const counter = (name: string, help: string, extra: string[] = []) => new Counter({ name, help, labelNames: [...LABELS, ...extra], registers: [registry] });
  return {
    invocations: counter("faas_invocations_total", "Invocations that ran (successfully or not)."),
    errors: counter("faas_errors_total", "Invocations that ended in an error, by error type.", ["error_type"]),
    coldstarts: counter("faas_coldstarts_total", "Invocations that started a new instance."),
    timeouts: counter("faas_timeouts_total", "Invocations stopped at their timeout."),
    throttles: counter("faas_throttles_total", "Invocations refused because the function was at its instance limit."),
    invokeDuration: new Histogram({
      name: "faas_invoke_duration_seconds",
      help: "How long invocations ran.",
      labelNames: [...LABELS],
      buckets: FAAS_DURATION_BUCKETS,
      registers: [registry],
    }),
    initDuration: new Histogram({
      name: "faas_init_duration_seconds",
      help: "How long cold starts spent starting and initializing an instance.",
      labelNames: [...LABELS],
      buckets: FAAS_DURATION_BUCKETS,
      registers: [registry],
    }),
  };
}
export type FaasMetrics = ReturnType<typeof createFaasMetrics>;
