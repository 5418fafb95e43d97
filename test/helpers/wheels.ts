import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { makeZip } from "@nimbus/testkit";

const DIST = "/usr/lib/python3/dist-packages";

/**
 * Debian's installed Flask (python3-flask) and what it needs, repackaged as wheels in `dir`, so
 * that pip can install `flask` with no network (PIP_NO_INDEX=1, PIP_FIND_LINKS=dir) as it would from
 * PyPI — MarkupSafe's compiled extension included, as a platform wheel.
 */
export async function flaskWheelhouse(dir: string): Promise<void> {
  // Debian keeps what each needs out of its metadata: PyPI's wheels say it.
  const packages: [string, string, string[]][] = [
    ["flask", "Flask-", ["Werkzeug>=2.2.2", "Jinja2>=3.0", "itsdangerous>=2.0", "click>=8.0"]],
    ["werkzeug", "Werkzeug-", ["MarkupSafe>=2.1.1"]],
    ["jinja2", "Jinja2-", ["MarkupSafe>=2.0"]],
    ["markupsafe", "MarkupSafe-", []],
    ["itsdangerous", "itsdangerous-", []],
    ["click", "click-", []],
  ];
  for (const [pkg, prefix, requires] of packages) {
    const infoDir = readdirSync(DIST).find((name) => name.startsWith(prefix) && name.endsWith(".egg-info"));
    if (!infoDir) throw new Error(`${DIST} has no ${prefix}*.egg-info: apt-get install python3-flask`);
    await writeWheel(dir, join(DIST, pkg), join(DIST, infoDir), requires);
  }
}

/** One installed package (its directory and its egg-info) as a wheel in `dir`. */
async function writeWheel(dir: string, pkgDir: string, infoDir: string, requires: string[]): Promise<void> {
  const pkgInfo = readFileSync(join(infoDir, "PKG-INFO"), "utf8");
  const field = (name: string) => new RegExp(`^${name}: (.+)$`, "m").exec(pkgInfo)?.[1]?.trim() ?? "";
  const name = field("Name");
  const version = field("Version");
  const files: Record<string, Buffer> = {};
  let native = false;
  for (const file of walk(pkgDir)) {
    const path = `${relative(join(pkgDir, ".."), file)}`;
    if (path.includes("__pycache__")) continue;
    if (file.endsWith(".so")) native = true;
    files[path] = readFileSync(file);
  }
  const tag = native ? `cp311-cp311-linux_${process.arch === "arm64" ? "aarch64" : "x86_64"}` : "py3-none-any";
  const distInfo = `${name.replaceAll("-", "_")}-${version}.dist-info`;
  files[`${distInfo}/METADATA`] = Buffer.from(["Metadata-Version: 2.1", `Name: ${name}`, `Version: ${version}`, ...requires.map((r) => `Requires-Dist: ${r}`), ""].join("\n"));
  files[`${distInfo}/WHEEL`] = Buffer.from(["Wheel-Version: 1.0", "Generator: nimbus-test", `Root-Is-Purelib: ${native ? "false" : "true"}`, `Tag: ${tag}`, ""].join("\n"));
  files[`${distInfo}/RECORD`] = Buffer.from([...Object.keys(files), `${distInfo}/RECORD`].map((f) => `${f},,`).join("\n") + "\n");
  writeFileSync(join(dir, `${name.replaceAll("-", "_")}-${version}-${tag}.whl`), await makeZip(files));
}

function* walk(dir: string): Generator<string> {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) yield* walk(path);
    else yield path;
  }
}
