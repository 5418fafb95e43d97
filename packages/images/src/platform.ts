import { ImageError } from "./errors.js";
import type { Platform, ResolvedImage } from "./types.js";

const ARCH_ALIASES: Record<string, { architecture: string; variant?: string }> = {
  x86_64: { architecture: "amd64" },
  "x86-64": { architecture: "amd64" },
  x64: { architecture: "amd64" },
  aarch64: { architecture: "arm64" },
  armhf: { architecture: "arm", variant: "v7" },
  armel: { architecture: "arm", variant: "v6" },
  i386: { architecture: "386" },
  ia32: { architecture: "386" },
};

/**
 * A platform in canonical form, as containerd normalizes it: architecture aliases (`x86_64`,
 * `aarch64`) resolved, arm64's variant `v8` and arm's `v7` made explicit, amd64's `v1` dropped.
 */
export function normalizePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase();
  const alias = ARCH_ALIASES[p.architecture.toLowerCase()];
  const architecture = alias?.architecture ?? p.architecture.toLowerCase();
  let variant = (p.variant ?? alias?.variant ?? "").toLowerCase();
  if (/^[0-9]+$/.test(variant)) variant = `v${variant}`;
  if (architecture === "arm64" && variant === "") variant = "v8";
  if (architecture === "arm" && variant === "") variant = "v7";
  if (architecture === "amd64" && variant === "v1") variant = "";
  return { os, architecture, ...(variant === "" ? {} : { variant }) };
}

/** `linux/arm64/v8` */
export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((part) => part !== undefined && part !== "").join("/");
}

/** Parses `os/arch[/variant]` (for configuration such as a node's platform override). */
export function parsePlatform(text: string): Platform {
  const [os, architecture, variant, ...extra] = text.split("/");
  if (!os || !architecture || extra.length > 0 || variant === "") {
    throw new Error(`platform '${text}' is not os/architecture[/variant] (e.g. linux/amd64, linux/arm64/v8)`);
  }
  return normalizePlatform({ os, architecture, ...(variant === undefined ? {} : { variant }) });
}

/** The platform of this Node process's host, normalized (`linux/amd64`, `linux/arm64/v8`, `linux/arm/v7`). */
export function hostPlatform(): Platform {
  const armVersion = (process.config.variables as Record<string, unknown>)["arm_version"];
  const variant = process.arch === "arm" && armVersion !== undefined ? `v${String(armVersion)}` : undefined;
  return normalizePlatform({ os: process.platform, architecture: process.arch, ...(variant ? { variant } : {}) });
}

/** One manifest of an index, with the platform it is for. */
export interface PlatformManifest {
  digest: string;
  mediaType: string;
  size: number;
  platform: Platform;
}

/** How well `offered` runs where `want` is wanted: 0 not at all, higher is better. */
function fitness(offered: Platform, want: Platform): number {
  if (offered.os !== want.os || offered.architecture !== want.architecture) return 0;
  if ((offered.variant ?? "") === (want.variant ?? "")) return 100;
  // An older arm variant runs on a newer CPU (v7 runs v6 and v5 code); other variants must match.
  if (want.architecture === "arm" && offered.variant && want.variant) {
    const have = Number(offered.variant.slice(1));
    const can = Number(want.variant.slice(1));
    if (have < can) return have;
  }
  return 0;
}

/**
 * Picks what to run on a node of platform `want` (use hostPlatform()): the index entry (given
 * manifests) or the offered platform (given a ResolvedImage) with the exact OS/architecture/variant,
 * or else the best compatible older arm variant. Throws ImageError("NoMatchingPlatform") listing what
 * the image offers.
 */
export function selectPlatform(image: ResolvedImage, want: Platform): Platform;
export function selectPlatform(manifests: readonly PlatformManifest[], want: Platform): PlatformManifest;
export function selectPlatform(image: ResolvedImage | readonly PlatformManifest[], want: Platform): Platform | PlatformManifest {
  const wanted = normalizePlatform(want);
  const candidates: { value: Platform | PlatformManifest; platform: Platform }[] = Array.isArray(image)
    ? (image as readonly PlatformManifest[]).map((m) => ({ value: m, platform: m.platform }))
    : (image as ResolvedImage).platforms.map((p) => ({ value: p, platform: p }));
  let best: { value: Platform | PlatformManifest; score: number } | undefined;
  for (const candidate of candidates) {
    const score = fitness(normalizePlatform(candidate.platform), wanted);
    if (score > 0 && (!best || score > best.score)) best = { value: candidate.value, score };
  }
  if (best) return best.value;
  const offered = candidates.map((c) => formatPlatform(c.platform));
  const what = Array.isArray(image) ? "the image" : `image ${(image as ResolvedImage).reference}`;
  throw new ImageError(
    "NoMatchingPlatform",
    `${what} has no manifest for ${formatPlatform(wanted)}; it offers ${offered.length > 0 ? offered.join(", ") : "no platforms"}`,
  );
}
