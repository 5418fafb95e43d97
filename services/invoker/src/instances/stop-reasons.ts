import type { FunctionError } from "@nimbus/protocol/wire";
import { failures } from "./messages.js";

/** Why an instance was stopped: decides what its in-flight invocations are told. */
export type StopReason =
  | "start failed"
  | "initializer failed"
  | "initializer failed while provisioning"
  | "initializer timed out"
  | "timeout"
  | "unresponsive after a timeout"
  | "protocol error"
  | "stopped on request"
  | "retired"
  | "idle"
  | "evicted for another function"
  | "node stopping"
  | "crashed";

/**
 * An instance that could not start: the function's own error (its module threw, its server exited
 * or never listened, it did not load in time) as its callers get it, and the output it printed.
 * The instance is already stopped, its whole sandbox with it.
 */
export class InstanceStartError extends Error {
  override readonly name = "InstanceStartError";

  constructor(
    readonly functionError: FunctionError,
    /** What the instance printed while starting, and the reason (for `x-fc-log-type: Tail`). */
    readonly output: Buffer,
  ) {
    super(functionError.errorMessage);
  }
}

/** What an invocation still in flight is told when its instance is gone for `reason`. */
export function failureFor(reason: StopReason | undefined, at: { durationMs: number; memoryMb: number; initializationTimeoutMs: number }): FunctionError {
  switch (reason) {
    case "initializer timed out":
      return failures.initializationTimedOut(at.initializationTimeoutMs / 1000);
    case "unresponsive after a timeout":
      return failures.stoppedWithConcurrent();
    case "stopped on request":
      return failures.stopped();
    case "protocol error":
      return failures.crashed(at.durationMs, at.memoryMb, "the instance broke its control protocol");
    default:
      return failures.crashed(at.durationMs, at.memoryMb);
  }
}
