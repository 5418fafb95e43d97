import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

export const CODE_DIR = process.env["FC_FUNC_CODE_PATH"] ?? "/code";

/** Splits FC's `file.export` handler (the file may contain dots and slashes: `src/app.v2.handler`). */
export function splitHandler(handler: string): { file: string; name: string } {
  const dot = handler.lastIndexOf(".");
  if (dot <= 0 || dot === handler.length - 1) throw Object.assign(new Error(`Invalid handler '${handler}'`), { name: "InvalidHandlerName" });
  return { file: handler.slice(0, dot), name: handler.slice(dot + 1) };
}

const EXTENSIONS = ["", ".js", ".cjs", ".mjs"];

/** Loads the module a handler names from the code directory (CommonJS or ES module). */
export async function loadModule(file: string): Promise<Record<string, unknown>> {
  const base = join(CODE_DIR, file);
  const found = EXTENSIONS.map((ext) => base + ext).find((candidate) => existsSync(candidate) && !candidate.endsWith("/"));
  if (!found) throw Object.assign(new Error(`Module '${base}.js' is missing.`), { name: "ImportModuleError" });
  if (found.endsWith(".mjs")) return (await import(pathToFileURL(found).href)) as Record<string, unknown>;
  const require = createRequire(join(CODE_DIR, "index.js"));
  try {
    return require(found) as Record<string, unknown>;
  } catch (err) {
    if ((err as { code?: string }).code === "ERR_REQUIRE_ESM") return (await import(pathToFileURL(found).href)) as Record<string, unknown>;
    throw err;
  }
}

/** The exported function a handler names, or an error saying what is missing. */
export async function resolveFunction(handler: string): Promise<(...args: unknown[]) => unknown> {
  const { file, name } = splitHandler(handler);
  const mod = await loadModule(file);
  const fn = mod[name] ?? (mod["default"] as Record<string, unknown> | undefined)?.[name];
  if (typeof fn !== "function") throw Object.assign(new Error(`Handler '${name}' is missing on module '${file}'`), { name: "HandlerNotFound" });
  return fn as (...args: unknown[]) => unknown;
}
