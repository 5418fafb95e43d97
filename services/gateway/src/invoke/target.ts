import { assertName, parseQualifiedService } from "@nimbus/protocol";
import type { Target, TargetResolver } from "@nimbus/dispatch";

/** Resolves the `{svc}[.{qualifier}]` path segment and a function name (404s as FC). */
export function resolveTarget(resolver: TargetResolver, serviceSegment: string, functionName: string): Target {
  const { service, qualifier } = parseQualifiedService(serviceSegment);
  return resolver.resolve(service, qualifier, assertName("function", functionName));
}
