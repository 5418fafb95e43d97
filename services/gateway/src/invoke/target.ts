import { assertName, parseQualifiedService } from "@nimbus/protocol";
import type { CallAddress } from "@nimbus/dispatch";

/** The function a `{svc}[.{qualifier}]` path segment and a function name address (names checked as FC does). */
export function callAddress(serviceSegment: string, functionName: string): CallAddress {
  const { service, qualifier } = parseQualifiedService(serviceSegment);
  return { service, qualifier, fn: assertName("function", functionName) };
}
