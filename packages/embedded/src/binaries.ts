import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

/** Debian package that provides each binary Nimbus runs. */
export const DEBIAN_PACKAGES: Record<string, string> = {
  "nats-server": "nats-server",
  "redis-server": "redis-server",
  "docker-registry": "docker-registry",
  skopeo: "skopeo",
  umoci: "umoci",
  bwrap: "bubblewrap",
  zip: "zip",
};

const EXTRA_DIRS = ["/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/local/bin", "/usr/bin"];

/** Absolute path of an executable found on PATH (or the sbin directories), or undefined. */
export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env["PATH"] ?? "").split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

/** Like findBinary, but throws a message saying which Debian package to install. */
export function requireBinary(name: string): string {
  const found = findBinary(name);
  if (found) return found;
  const pkg = DEBIAN_PACKAGES[name] ?? name;
  throw new Error(`'${name}' was not found on PATH; install it with: sudo apt-get install -y ${pkg}`);
}
