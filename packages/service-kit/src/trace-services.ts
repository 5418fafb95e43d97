import { serviceTraceEndpoint, type Naming, type ServiceRecord } from "@nimbus/protocol";
import { setServiceTraceEndpoints } from "@nimbus/telemetry";

/**
 * Sends each service's spans to the endpoint its tracingConfig names, as services change: `record`
 * reads a service's current record by its KV key (from the app's mirror).
 */
export function traceServices(naming: Naming, record: (key: string) => ServiceRecord | undefined): void {
  setServiceTraceEndpoints((service) => serviceTraceEndpoint(record(naming.kvKeys.service(service))));
}
