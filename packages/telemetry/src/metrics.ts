import { collectDefaultMetrics, Registry } from "prom-client";

export { Counter, Gauge, Histogram, Registry } from "prom-client";

/**
 * A Prometheus registry for one process, with Node's default metrics and `component` (the Nimbus
 * service: gateway, invoker…) and `node` labels on every series. (`service` is a label of the
 * FaaS series: the FC service a function belongs to.)
 */
export function createMetricsRegistry(labels: { service: string; node: string }): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ component: labels.service, node: labels.node });
  collectDefaultMetrics({ register: registry });
  return registry;
}
