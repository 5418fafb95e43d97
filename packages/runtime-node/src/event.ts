import type { FunctionError } from "@nimbus/protocol/wire";
import { functionError, serializeResult } from "./errors.js";

export type Outcome = { ok: true; value: unknown } | { ok: false; error: FunctionError };

/**
 * FC's first Node.js runtimes (nodejs4.4, nodejs6) reported errors their own way: `callback('text')`
 * answered `{"errorMessage": "text"}` alone, and a synchronous throw from a handler ended the
 * process ("Process exited unexpectedly before completing request"). Set at load for those names.
 */
const legacy = { on: false };

export function useLegacyErrors(on: boolean): void {
  legacy.on = on;
}

/** A legacy runtime's synchronous throw: the stack to the log, then the process ends with nothing answered. */
function exitLikeLegacyNode(err: unknown): never {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(129);
}

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
      if (err !== undefined && err !== null) settle({ ok: false, error: legacy.on && !(err instanceof Error) ? legacyHandledError(err) : functionError("HandledInvocationError", err) });
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
      if (legacy.on) exitLikeLegacyNode(err);
      settle({ ok: false, error: functionError("UnhandledInvocationError", err) });
    }
  });
}

/** `callback('text')` on nodejs4.4/nodejs6: FC answered the message alone. */
function legacyHandledError(err: unknown): FunctionError {
  let errorMessage: string;
  try {
    errorMessage = Buffer.isBuffer(err) ? err.toString() : typeof err === "object" ? JSON.stringify(err) : String(err);
  } catch {
    errorMessage = String(err);
  }
  return { errorType: "HandledInvocationError", errorMessage, body: Buffer.from(JSON.stringify({ errorMessage })) };
}

/** Runs an event handler: `(event: Buffer, context, callback)`; the result is serialized as FC does. */
export async function runEvent(fn: (...args: unknown[]) => unknown, event: Buffer, context: unknown): Promise<{ body: Buffer } | { error: FunctionError }> {
  const outcome = await callHandler(fn, [event, context]);
  return outcome.ok ? { body: serializeResult(outcome.value) } : { error: outcome.error };
}
