import { readdirSync, realpathSync } from "node:fs";
import { join } from "node:path";

/** An interpreter on this node. */
export interface Interpreter {
  path: string;
  /** `3.11` */
  version: string;
}

const BIN = "/usr/bin";

/**
 * The Python interpreters this node has (`/usr/bin/python3.N`, as Debian installs them), and which
 * one runs each of FC's Python runtime names: its own version when installed, else the closest
 * installed 3.x (a newer one on a tie), else `python3`. The runtime says in the function's log when
 * the version differs from the name's.
 */
export class Interpreters {
  private installed: Interpreter[] | undefined;

  for(runtime: string): Interpreter {
    const all = (this.installed ??= scan());
    const wanted = /^python3\.(\d+)$/.exec(runtime)?.[1];
    if (wanted === undefined || all.length === 0) return fallback(all);
    const minor = Number(wanted);
    const ranked = [...all].sort((a, b) => distance(a, minor) - distance(b, minor) || minorOf(b) - minorOf(a));
    return ranked[0] as Interpreter;
  }
}

function minorOf(interpreter: Interpreter): number {
  return Number(interpreter.version.split(".")[1]);
}

function distance(interpreter: Interpreter, minor: number): number {
  return Math.abs(minorOf(interpreter) - minor);
}

/** `python3` itself, named by the version it links to. */
function fallback(all: Interpreter[]): Interpreter {
  try {
    const real = realpathSync(join(BIN, "python3"));
    const version = /python(3\.\d+)$/.exec(real)?.[1];
    if (version) return { path: join(BIN, "python3"), version };
  } catch {
    // no python3 at all: the start fails with the sandbox's own error, which says so
  }
  return all[0] ?? { path: join(BIN, "python3"), version: "3" };
}

function scan(): Interpreter[] {
  let names: string[] = [];
  try {
    names = readdirSync(BIN);
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const m = /^python(3\.\d+)$/.exec(name);
    return m ? [{ path: join(BIN, name), version: m[1] as string }] : [];
  });
}

/** This node's interpreters, looked up once. */
export const interpreters = new Interpreters();
