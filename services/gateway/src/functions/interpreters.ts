import type { Heartbeat } from "@nimbus/service-kit";

/** One interpreter a Python function runs on, and the invoker nodes that run it there. */
export interface InterpreterView {
  /** The interpreter's own version, `3.11.2`. */
  version: string;
  path: string;
  /** The operator set it for this runtime name (NIMBUS_PYTHON_INTERPRETERS). */
  configured: boolean;
  nodes: string[];
}

/**
 * What a Python runtime name runs on across the live invoker nodes (their heartbeats say), one
 * entry per distinct interpreter: getFunction shows it, so that `python3.12` running on a node's
 * Python 3.11 is visible before the first call's log says so.
 */
export function interpretersFor(beats: readonly Heartbeat[], runtime: string): InterpreterView[] {
  const byInterpreter = new Map<string, InterpreterView>();
  for (const beat of beats) {
    const used = beat.service === "invoker" ? beat.runtimes?.[runtime] : undefined;
    if (!used) continue;
    const key = `${used.path}\0${used.version}`;
    const view = byInterpreter.get(key) ?? { version: used.version, path: used.path, configured: used.configured === true, nodes: [] };
    view.nodes.push(beat.node);
    byInterpreter.set(key, view);
  }
  return [...byInterpreter.values()].map((v) => ({ ...v, nodes: v.nodes.sort() })).sort((a, b) => b.nodes.length - a.nodes.length || a.path.localeCompare(b.path));
}
