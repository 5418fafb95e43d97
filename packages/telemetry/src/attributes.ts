/**
 * The span attribute names Nimbus sets, in one table (OpenTelemetry's FaaS, messaging, HTTP and URL
 * conventions, and Nimbus's own), so no file spells one out.
 */
export const Attr = {
  faasTrigger: "faas.trigger",
  faasInvokedName: "faas.invoked_name",
  faasInvocationId: "faas.invocation_id",
  faasName: "faas.name",
  faasVersion: "faas.version",
  faasInstance: "faas.instance",
  faasColdstart: "faas.coldstart",
  messagingSystem: "messaging.system",
  messagingMessageId: "messaging.message.id",
  httpRequestMethod: "http.request.method",
  httpResponseStatusCode: "http.response.status_code",
  urlPath: "url.path",
  service: "nimbus.service",
  qualifier: "nimbus.qualifier",
  trigger: "nimbus.trigger",
  invocationType: "nimbus.invocation_type",
  errorType: "nimbus.error_type",
  attempt: "nimbus.attempt",
} as const;

/** OpenTelemetry's `faas.trigger` for how a call reached a function. */
export function faasTrigger(trigger: string): "http" | "pubsub" | "timer" | "datasource" | "other" {
  switch (trigger) {
    case "http":
      return "http";
    case "nats":
      return "pubsub";
    case "timer":
      return "timer";
    case "oss":
      return "datasource";
    default:
      return "other";
  }
}
