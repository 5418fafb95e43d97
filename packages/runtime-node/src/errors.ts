import type { ErrorType, FunctionError } from "@nimbus/protocol/wire";

/** FC renames these before reporting them. */
function fcErrorName(err: Error): string {
  if (err.name === "SyntaxError") return "UserCodeSyntaxError";
  if ((err as { code?: string }).code === "MODULE_NOT_FOUND") return "ImportModuleError";
  return err.name || "Error";
}

/**
 * FC's function error body, as its Node.js runtime builds it: an Error gives
 * `{errorMessage, errorType: <name>, stackTrace: <stack lines>}`, anything else
 * `{errorMessage, errorType: "FunctionHandledError"}`; unhandled errors (a throw, a rejected promise)
 * get their errorType prefixed with `FunctionUnhandledError: `.
 */
export function functionError(errorType: ErrorType, err: unknown): FunctionError {
  const unhandled = errorType === "UnhandledInvocationError";
  let body: Record<string, unknown>;
  if (err instanceof Error) {
    const name = fcErrorName(err);
    body = { errorMessage: err.message, errorType: unhandled ? `FunctionUnhandledError: ${name}` : name };
    if (err.stack) body["stackTrace"] = err.stack.split("\n");
  } else {
    const message = Buffer.isBuffer(err) ? err.toString() : typeof err === "object" && err !== null ? safeJson(err) : String(err);
    body = { errorMessage: message, errorType: unhandled ? "FunctionUnhandledError" : "FunctionHandledError" };
  }
  return { errorType, errorMessage: String(body["errorMessage"]), body: Buffer.from(JSON.stringify(body)) };
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

/**
 * How FC turns a handler's result into response bytes: Buffers as they are, objects as JSON, anything
 * else as its string form (numbers, booleans), nothing for null/undefined.
 */
export function serializeResult(value: unknown): Buffer {
  if (value === undefined || value === null) return Buffer.alloc(0);
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (typeof value === "string") return Buffer.from(value, "utf8");
  if (typeof value === "object") return Buffer.from(JSON.stringify(value) ?? "", "utf8");
  return Buffer.from(String(value), "utf8");
}
