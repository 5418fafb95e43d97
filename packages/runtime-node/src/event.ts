import type { FunctionError } from "@nimbus/protocol/wire";
import { functionError, serializeResult } from "./errors.js";

export type Outcome = { ok: true; value: unknown } | { ok: false; error: FunctionError };

/**
 * Calls a handler the way FC's Node.js runtime does: with a callback, and also honouring a returned
 * promise. The first of the two to settle wins. An error passed to the callback is a
 * HandledInvocationError; a throw or a rejected promise is an UnhandledInvocationError.
 */
export function callHandler(fn: (...args: unknown[]) => unknown, args: unknown[]): Promise<Outcome> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      resolve(outcome);
    };
    const callback = (err?: unknown, value?: unknown) => {
      if (err !== undefined && err !== null) settle({ ok: false, error: functionError("HandledInvocationError", err) });
      else settle({ ok: true, value });
    };
    try {
      const returned = fn(...args, callback);
      if (returned && typeof (returned as PromiseLike<unknown>).then === "function") {
        (returned as PromiseLike<unknown>).then(
          (value) => settle({ ok: true, value }),
          (err: unknown) => settle({ ok: false, error: functionError("UnhandledInvocationError", err) }),
        );
      }
    } catch (err) {
      settle({ ok: false, error: functionError("UnhandledInvocationError", err) });
    }
  });
}

/** Runs an event handler: `(event: Buffer, context, callback)`; the result is serialized as FC does. */
export async function runEvent(fn: (...args: unknown[]) => unknown, event: Buffer, context: unknown): Promise<{ body: Buffer } | { error: FunctionError }> {
  const outcome = await callHandler(fn, [event, context]);
  return outcome.ok ? { body: serializeResult(outcome.value) } : { error: outcome.error };
}
