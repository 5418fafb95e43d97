import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const REQUIREMENTS = "requirements.txt";

/**
 * FC's runtime for a directory deployed without one: `python3` when it holds Python code (an
 * `index.py` or a `requirements.txt`) and no Node.js package, else `nodejs20`.
 */
export function detectRuntime(dir: string): "python3" | "nodejs20" {
  const python = existsSync(join(dir, "index.py")) || existsSync(join(dir, REQUIREMENTS));
  const node = existsSync(join(dir, "index.js")) || existsSync(join(dir, "package.json"));
  return python && !node ? "python3" : "nodejs20";
}

/**
 * What `pip install -t` puts next to the code, as FC's tooling does: the packages `requirements.txt`
 * names, installed with this machine's `python3 -m pip` into a directory of their own (the caller
 * zips it with the code, the code winning on a clash, and removes it). pip's own configuration
 * applies (PIP_INDEX_URL, PIP_FIND_LINKS, pip.conf…); its output goes to stderr. Packages with native
 * parts are built or fetched for this machine's platform: deploy from a machine like the nodes.
 */
export async function vendorRequirements(dir: string, python = process.env["NIMBUS_PYTHON"] ?? "python3"): Promise<{ dir: string; remove: () => Promise<void> } | undefined> {
  if (!existsSync(join(dir, REQUIREMENTS))) return undefined;
  const target = await mkdtemp(join(tmpdir(), "nimbus-pip-"));
  const remove = () => rm(target, { recursive: true, force: true });
  const args = ["-m", "pip", "install", "--requirement", join(dir, REQUIREMENTS), "--target", target, "--disable-pip-version-check", "--no-input", "--quiet"];
  process.stderr.write(`installing ${REQUIREMENTS} with ${python} -m pip into the package\n`);
  const outcome = await new Promise<{ code: number | null; error?: Error }>((resolve) => {
    // As root (in a container, say) pip warns that it is root; into a directory of its own that harms nothing.
    const env = { PIP_ROOT_USER_ACTION: "ignore", ...process.env };
    const child = spawn(python, args, { cwd: dir, env, stdio: ["ignore", process.stderr, process.stderr] });
    child.on("error", (error) => resolve({ code: null, error }));
    child.on("exit", (code) => resolve({ code }));
  });
  if (outcome.code === 0) return { dir: target, remove };
  await remove();
  if (outcome.error) throw new Error(`${REQUIREMENTS} needs pip, and ${python} could not be run (${outcome.error.message}): install Python 3 and pip (Debian: apt-get install python3-pip), or set NIMBUS_PYTHON`);
  throw new Error(`${python} -m pip could not install ${REQUIREMENTS} (exit ${outcome.code}; its output is above): nothing was deployed. Without pip: apt-get install python3-pip`);
}
