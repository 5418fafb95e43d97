import type { ErrorType, FunctionError } from "@nimbus/protocol/wire";

/** FC's texts for failures the platform (not the function) reports. */
function bodyOf(errorMessage: string): Uint8Array {
  return Buffer.from(JSON.stringify({ errorMessage }));
}

function unhandled(errorMessage: string): FunctionError {
  return { errorType: "UnhandledInvocationError" satisfies ErrorType, errorMessage, body: bodyOf(errorMessage) };
}

const mb = (n: number) => `${Math.round(n * 100) / 100}MB`;

export const failures = {
  crashed: (durationMs: number, maxMemoryMb: number, detail?: string) =>
    unhandled(
      `Process exited unexpectedly before completing request (duration: ${Math.round(durationMs)}ms, maxMemoryUsage: ${mb(maxMemoryMb)})${detail ? `: ${detail}` : ""}`,
    ),
  outOfMemory: (durationMs: number, limitMb: number) =>
    unhandled(
      `Process exited unexpectedly before completing request (duration: ${Math.round(durationMs)}ms, maxMemoryUsage: ${mb(limitMb)}): the function exceeded its memory limit of ${limitMb} MB and was killed`,
    ),
  timedOut: (timeoutSeconds: number, maxMemoryMb: number) =>
    unhandled(`Function timed out after ${timeoutSeconds} seconds (maxMemoryUsage: ${mb(maxMemoryMb)})`),
  initializationTimedOut: (timeoutSeconds: number) =>
    unhandled(`Function initialization timed out after ${timeoutSeconds} seconds: the initializer did not finish in time`),
  stopped: () => unhandled("the invocation was stopped on request, and its instance with it"),
  startFailed: (detail: string) => unhandled(`Function instance failed to start: ${detail}`),
  loadTimedOut: (timeoutMs: number) =>
    unhandled(`Function instance failed to start: the function's code did not finish loading within ${timeoutMs / 1000} seconds`),
  /** FC's message when a custom runtime's server never listens. */
  serverNotStarted: (caPort: number, timeoutMs: number) =>
    unhandled(`The CA's http server cannot be started: it did not listen on port ${caPort} within ${timeoutMs / 1000} seconds`),
  stoppedWithConcurrent: () => unhandled("Process exited unexpectedly before completing request: another request on the same instance timed out and the instance was stopped"),
};
